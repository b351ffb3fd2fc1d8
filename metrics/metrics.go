// Package metrics is an agent's metrics in the Prometheus exposition
// format (prometheus/client_golang): what Raft, gossip, the scheduler, the
// nodes and this node's task containers are doing. The figures that
// describe state are read when scraped, from a Source; the figures of
// events (commits, plans) are counted as they happen, by the agent and
// its control plane calling Observe methods. Nothing runs between
// scrapes.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/skiff-run/skiff/structs"
)

// RaftStatus is what the metrics show of the agent's Raft node.
type RaftStatus struct {
	IsLeader                             bool
	LastIndex, CommitIndex, AppliedIndex uint64
	LeaderChanges                        uint64
}

// Source gives the figures read at scrape time. Its methods are called
// from the scraping request's goroutine, concurrently with everything
// else the agent does.
type Source interface {
	Raft() RaftStatus
	// MemberStates counts the gossip members by state (alive, suspect,
	// dead, left).
	MemberStates() map[string]int
	// Reservations is, for every node of the local replica, what it
	// offers and what its active tasks reserve.
	Reservations() []structs.NodeUsage
	// Usage is this node's container use, from its engine.
	Usage(ctx context.Context) (structs.NodeUsage, error)
}

// usageTimeout bounds the engine's stats in one scrape.
const usageTimeout = 5 * time.Second

// Metrics holds an agent's registry. It is safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	commit   prometheus.Histogram
	planTime prometheus.Histogram
	placed   prometheus.Counter
	unplaced prometheus.Counter
}

// New returns the metrics of an agent whose state src describes, with
// the Go runtime's and the process's own.
func New(src Source) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "skiff_raft_commit_seconds",
			Help: "Time from handing a command to Raft on the leader to its being applied there.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		planTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "skiff_scheduler_plan_seconds",
			Help: "Time the scheduler took to plan one service or one run of one-off tasks.", Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16)}),
		placed: prometheus.NewCounter(prometheus.CounterOpts{Name: "skiff_scheduler_placements_total",
			Help: "Tasks the scheduler placed while this agent led."}),
		unplaced: prometheus.NewCounter(prometheus.CounterOpts{Name: "skiff_scheduler_placement_failures_total",
			Help: "Tasks the scheduler could not place while this agent led, counted at each plan that left them out."}),
	}
	m.reg.MustRegister(m.commit, m.planTime, m.placed, m.unplaced, &stateCollector{src: src},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus exposition format. A
// figure that cannot be read (the engine does not answer) is left out and
// the rest still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// ObserveCommit records one command's commit on the leader.
func (m *Metrics) ObserveCommit(d time.Duration) { m.commit.Observe(d.Seconds()) }

// ObservePlan records one scheduling decision: how long it took, how many
// tasks it placed and how many it could not.
func (m *Metrics) ObservePlan(d time.Duration, placed, unplaced int) {
	m.planTime.Observe(d.Seconds())
	m.placed.Add(float64(placed))
	m.unplaced.Add(float64(unplaced))
}

var (
	raftLastIndex = prometheus.NewDesc("skiff_raft_last_index", "Index of the last entry of this agent's Raft log.", nil, nil)
	raftCommit    = prometheus.NewDesc("skiff_raft_commit_index", "Index of the last entry this agent knows committed.", nil, nil)
	raftApplied   = prometheus.NewDesc("skiff_raft_applied_index", "Index of the last entry this agent's state machine applied.", nil, nil)
	raftLeader    = prometheus.NewDesc("skiff_raft_leader", "1 while this agent is the Raft leader, else 0.", nil, nil)
	raftChanges   = prometheus.NewDesc("skiff_raft_leader_changes_total", "Changes of leader this agent has seen since it started.", nil, nil)
	members       = prometheus.NewDesc("skiff_gossip_members", "Gossip members this agent sees, by state.", []string{"state"}, nil)
	nodeLabels    = []string{"node", "node_name"}
	nodeCPU       = prometheus.NewDesc("skiff_node_cpu_units", "CPU units a node offers (1024 a core).", nodeLabels, nil)
	nodeCPURes    = prometheus.NewDesc("skiff_node_cpu_reserved_units", "CPU units the active tasks of a node reserve.", nodeLabels, nil)
	nodeMem       = prometheus.NewDesc("skiff_node_memory_bytes", "Memory a node offers.", nodeLabels, nil)
	nodeMemRes    = prometheus.NewDesc("skiff_node_memory_reserved_bytes", "Memory the active tasks of a node reserve.", nodeLabels, nil)
	nodeCPUUsed   = prometheus.NewDesc("skiff_node_cpu_used_units", "CPU units this agent's task containers used since the sample before (1024 a core); this agent's node only.", nodeLabels, nil)
	nodeMemUsed   = prometheus.NewDesc("skiff_node_memory_used_bytes", "Memory this agent's task containers use; this agent's node only.", nodeLabels, nil)
	taskLabels    = []string{"task", "service", "container"}
	taskCPU       = prometheus.NewDesc("skiff_task_cpu_seconds_total", "CPU time a task container used since it started.", taskLabels, nil)
	taskMem       = prometheus.NewDesc("skiff_task_memory_bytes", "Memory a task container uses, reclaimable page cache left out.", taskLabels, nil)
	taskRx        = prometheus.NewDesc("skiff_task_network_receive_bytes_total", "Bytes a task container received since it started.", taskLabels, nil)
	taskTx        = prometheus.NewDesc("skiff_task_network_transmit_bytes_total", "Bytes a task container sent since it started.", taskLabels, nil)
	taskRestarts  = prometheus.NewDesc("skiff_task_container_restarts", "Times the engine restarted a task container.", taskLabels, nil)
)

// stateCollector reads the figures that describe state when scraped.
type stateCollector struct{ src Source }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{raftLastIndex, raftCommit, raftApplied, raftLeader, raftChanges, members, nodeCPU, nodeCPURes,
		nodeMem, nodeMemRes, nodeCPUUsed, nodeMemUsed, taskCPU, taskMem, taskRx, taskTx, taskRestarts} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.src.Raft()
	leader := 0.0
	if r.IsLeader {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(raftLastIndex, prometheus.GaugeValue, float64(r.LastIndex))
	ch <- prometheus.MustNewConstMetric(raftCommit, prometheus.GaugeValue, float64(r.CommitIndex))
	ch <- prometheus.MustNewConstMetric(raftApplied, prometheus.GaugeValue, float64(r.AppliedIndex))
	ch <- prometheus.MustNewConstMetric(raftLeader, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(raftChanges, prometheus.CounterValue, float64(r.LeaderChanges))
	for state, n := range c.src.MemberStates() {
		ch <- prometheus.MustNewConstMetric(members, prometheus.GaugeValue, float64(n), state)
	}
	for _, n := range c.src.Reservations() {
		ch <- prometheus.MustNewConstMetric(nodeCPU, prometheus.GaugeValue, float64(n.CPU), n.Node, n.NodeName)
		ch <- prometheus.MustNewConstMetric(nodeCPURes, prometheus.GaugeValue, float64(n.CPUReserved), n.Node, n.NodeName)
		ch <- prometheus.MustNewConstMetric(nodeMem, prometheus.GaugeValue, float64(n.MemoryMiB)*(1<<20), n.Node, n.NodeName)
		ch <- prometheus.MustNewConstMetric(nodeMemRes, prometheus.GaugeValue, float64(n.MemoryReservedMiB)*(1<<20), n.Node, n.NodeName)
	}
	ctx, cancel := context.WithTimeout(context.Background(), usageTimeout)
	defer cancel()
	u, err := c.src.Usage(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(nodeCPUUsed, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(nodeCPUUsed, prometheus.GaugeValue, u.CPUUsed, u.Node, u.NodeName)
	ch <- prometheus.MustNewConstMetric(nodeMemUsed, prometheus.GaugeValue, float64(u.MemoryUsedBytes), u.Node, u.NodeName)
	for _, t := range u.Containers {
		ch <- prometheus.MustNewConstMetric(taskCPU, prometheus.CounterValue, t.CPUSeconds, t.Task, t.Service, t.Container)
		ch <- prometheus.MustNewConstMetric(taskMem, prometheus.GaugeValue, float64(t.MemoryBytes), t.Task, t.Service, t.Container)
		ch <- prometheus.MustNewConstMetric(taskRx, prometheus.CounterValue, float64(t.NetRxBytes), t.Task, t.Service, t.Container)
		ch <- prometheus.MustNewConstMetric(taskTx, prometheus.CounterValue, float64(t.NetTxBytes), t.Task, t.Service, t.Container)
		ch <- prometheus.MustNewConstMetric(taskRestarts, prometheus.GaugeValue, float64(t.Restarts), t.Task, t.Service, t.Container)
	}
}
