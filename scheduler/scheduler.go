// Package scheduler decides where tasks run. It is pure: it reads a view of
// the state, never writes it, and explains every task it cannot place. It
// imports only skiff's structs.
package scheduler

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/skiff-run/skiff/structs"
)

// View is the read-only state the scheduler needs; *fsm.State satisfies it.
type View interface {
	Nodes() []*structs.Node
	TasksByNode(node string) []*structs.Task
	// ListenerPorts maps the listener port of every service's load
	// balancers to the service, as structs.ListenerPorts does (nil for
	// none): every agent listens on them and no task may take one.
	ListenerPorts() map[int]string
}

// Job asks for Count more copies of a task definition.
type Job struct {
	// Service is the service the tasks belong to, or empty for one-off
	// tasks. Spread and distinctInstance count the service's tasks.
	Service     string
	TaskDef     *structs.TaskDefinition
	Count       int
	Strategy    []structs.PlacementStrategy
	Constraints []structs.PlacementConstraint
	// Releasing lists tasks that the same plan stops; their resources
	// count as free.
	Releasing map[string]bool
	// Seed drives the random strategy, so that a plan is reproducible.
	Seed uint64
	// Preferred lists the nodes that hold the data of the job's sticky
	// volumes (shared Docker volumes and host paths), most recent first.
	// Each placement in turn goes to the next of them when it fits, before
	// the strategies choose; when it does not, the placement's Note says
	// why the data was left behind.
	Preferred []string
	// Cluster is the pool the tasks run in: only its nodes are
	// considered. Empty is structs.DefaultCluster.
	Cluster string
}

// Placement puts one task on a node with the host ports it was given, in
// the order of the definition's port mappings, and the node's GPUs it
// holds, lowest numbers first.
type Placement struct {
	Node      string
	HostPorts []int
	GPUs      []int
	// Note explains why the task was not placed on the preferred node
	// that holds its data; empty when it was, or when none was preferred.
	Note string
}

// Plan is the scheduler's answer.
type Plan struct {
	Placements []Placement
	// Failure explains, with typed reasons, why the rest of the job could
	// not be placed; nil when every task found a node.
	Failure *structs.PlacementFailure
}

// nodeState is one node's remaining capacity during planning.
type nodeState struct {
	node      *structs.Node
	idx       int
	cpuFree   int64
	memFree   int64
	ports     map[int]bool
	portNext  int
	gpus      map[int]bool // GPUs held by the node's active tasks
	svcTasks  int
	attrGroup int // index into groupCounts for attribute spread, or -1
}

// need is what one task asks of a node.
type need struct {
	cpu, mem    int64
	gpus        int
	static      []int // host ports that must be free, by mapping position
	dynamic     int   // count of host ports to allocate
	mappingPort []int // hostPort of each mapping, 0 for dynamic
}

func (n *need) isStatic(port int) bool {
	for _, s := range n.static {
		if s == port {
			return true
		}
	}
	return false
}

func needOf(td *structs.TaskDefinition) need {
	n := need{cpu: td.CPU(), mem: td.MemoryMiB(), gpus: td.GPUs()}
	for _, c := range td.ContainerDefinitions {
		for _, pm := range c.PortMappings {
			// In host network mode a container listens on the host's own
			// port, its containerPort, which is then as static as any.
			if td.NetworkMode == structs.NetworkHost {
				pm.HostPort = pm.ContainerPort
			}
			n.mappingPort = append(n.mappingPort, pm.HostPort)
			if pm.HostPort == 0 {
				n.dynamic++
			} else {
				n.static = append(n.static, pm.HostPort)
			}
		}
	}
	return n
}

// Place plans job against the view. The result depends only on its inputs.
func Place(v View, job Job) Plan {
	var plan Plan
	if job.Count <= 0 {
		return plan
	}
	nodes, why := poolNodes(v.Nodes(), job.Cluster)
	if len(nodes) == 0 {
		plan.Failure = &structs.PlacementFailure{Count: job.Count, TaskDefinition: job.TaskDef.Ref(),
			Reasons: []structs.PlacementReason{{Kind: structs.ReasonNoNodes, Detail: why}}}
		return plan
	}
	p, err := newPlanner(v, nodes, job)
	if err != nil {
		plan.Failure = &structs.PlacementFailure{Count: job.Count, TaskDefinition: job.TaskDef.Ref(), Nodes: len(nodes),
			Reasons: []structs.PlacementReason{{Kind: structs.ReasonInvalid, Detail: err.Error()}}}
		return plan
	}
	preferred := job.Preferred
	for placed := 0; placed < job.Count; placed++ {
		var ns *nodeState
		note := ""
		if len(preferred) > 0 {
			ns, note = p.preferred(preferred[0])
			preferred = preferred[1:]
		}
		if ns == nil {
			ns = p.pick(placed)
		}
		if ns == nil {
			plan.Failure = p.explain(job.Count - placed)
			break
		}
		pl := p.commit(ns)
		if note != "" {
			pl.Note = fmt.Sprintf("placed on %s, not on %s", nodeName(ns.node), note)
		}
		plan.Placements = append(plan.Placements, pl)
	}
	return plan
}

// poolNodes keeps the nodes of the pool; when there are none it says why.
func poolNodes(all []*structs.Node, cluster string) ([]*structs.Node, string) {
	nodes := make([]*structs.Node, 0, len(all))
	for _, n := range all {
		if n.InCluster(cluster) {
			nodes = append(nodes, n)
		}
	}
	switch {
	case len(all) == 0:
		return nil, "no nodes are registered"
	case len(nodes) == 0:
		return nil, fmt.Sprintf("no nodes are registered in cluster %s (%d %s in other clusters; agent flag --cluster)",
			structs.ClusterName(cluster), len(all), plural(len(all), "node"))
	}
	return nodes, ""
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// preferred returns the node of that id when it can take the task, or
// else says which node holds the data and why it cannot take the task.
func (p *planner) preferred(id string) (*nodeState, string) {
	vols := strings.Join(p.job.TaskDef.StickyVolumes(), ", ")
	for _, ns := range p.nodes {
		if ns.node.ID != id {
			continue
		}
		why := p.fits(ns)
		if why == (refusal{}) {
			return ns, ""
		}
		return nil, fmt.Sprintf("%s, which holds the data of volume %s: %s", nodeName(ns.node), vols, why.text())
	}
	return nil, fmt.Sprintf("%s, which held the data of volume %s: it is no longer registered", id, vols)
}

func nodeName(n *structs.Node) string {
	if n.Name != "" {
		return n.Name
	}
	return n.ID
}

// text says why one node refused the task.
func (r refusal) text() string {
	switch r.kind {
	case structs.ReasonNodeStatus, structs.ReasonIneligible:
		return "the node is " + r.detail
	case structs.ReasonConstraint:
		return "excluded by constraint " + r.detail
	case structs.ReasonCPU:
		return "not enough cpu free"
	case structs.ReasonMemory:
		return "not enough memory free"
	case structs.ReasonHostPort:
		return "host port " + r.detail + " in use"
	case structs.ReasonListenerPort:
		return "host port " + r.detail
	case structs.ReasonDynamicPorts:
		return "no free dynamic host port"
	case structs.ReasonHostPath:
		return "host path " + r.detail + " not allowed (agent flag --allow-host-path)"
	case structs.ReasonPrivileged:
		return "privileged containers not allowed (agent flag --allow-privileged), which " + r.detail + " needs"
	}
	return r.kind
}

type planner struct {
	job         Job
	need        need
	hostPaths   []string
	privileges  []string
	nodes       []*nodeState
	filters     []filter
	strategies  []strategy
	groupCounts []int
	index       nodeIndex // nil when the strategies need a scan of every node
	// listeners maps the listener ports of every service's load
	// balancers, whatever their pool, to the service of each; dynamic host
	// ports skip them.
	listeners map[int]string
	// onListener is the refusal of every node when a static host port of
	// the task is a listener port, else the zero refusal.
	onListener refusal
}

func newPlanner(v View, nodes []*structs.Node, job Job) (*planner, error) {
	p := &planner{job: job, need: needOf(job.TaskDef), hostPaths: job.TaskDef.HostPaths(),
		privileges: job.TaskDef.Privileges(), listeners: v.ListenerPorts()}
	for _, hp := range job.TaskDef.StaticTCPHostPorts() {
		if svc, ok := p.listeners[hp.Port]; ok {
			p.onListener = refusal{structs.ReasonListenerPort, fmt.Sprintf("%d of container %s is the listener port of service %s's load balancer, which every agent listens on",
				hp.Port, hp.Container, svc)}
			break
		}
	}
	var err error
	if p.filters, err = buildFilters(job.Constraints); err != nil {
		return nil, err
	}
	strat := job.Strategy
	if len(strat) == 0 {
		strat = []structs.PlacementStrategy{{Type: "binpack", Field: "memory"}}
	}
	if p.strategies, err = buildStrategies(strat, job.Seed); err != nil {
		return nil, err
	}
	groups := map[string]int{}
	spreadAttr := ""
	for _, s := range p.strategies {
		if sp, ok := s.(spreadAttribute); ok {
			spreadAttr = sp.key
		}
	}
	p.nodes = make([]*nodeState, len(nodes))
	for i, n := range nodes {
		ns := &nodeState{node: n, idx: i, cpuFree: n.CPU, memFree: n.MemoryMiB, portNext: n.PortMin, attrGroup: -1}
		for _, t := range v.TasksByNode(n.ID) {
			if !t.Active() || job.Releasing[t.ID] {
				continue
			}
			ns.cpuFree -= t.CPU
			ns.memFree -= t.MemoryMiB
			for _, hp := range t.HostPorts {
				if ns.ports == nil {
					ns.ports = map[int]bool{}
				}
				ns.ports[hp] = true
			}
			for _, g := range t.GPUs {
				if ns.gpus == nil {
					ns.gpus = map[int]bool{}
				}
				ns.gpus[g] = true
			}
			if job.Service != "" && t.Service == job.Service && t.DesiredStatus == structs.StatusRunning {
				ns.svcTasks++
			}
		}
		if spreadAttr != "" {
			val := n.Attributes[spreadAttr]
			g, ok := groups[val]
			if !ok {
				g = len(p.groupCounts)
				groups[val] = g
				p.groupCounts = append(p.groupCounts, 0)
			}
			ns.attrGroup = g
			p.groupCounts[g] += ns.svcTasks
		}
		p.nodes[i] = ns
	}
	// A preferred node takes a task out of the strategies' turn, which
	// an index cannot follow; jobs with data to go back to scan instead.
	if len(job.Preferred) == 0 {
		p.index = newIndex(p)
	}
	return p, nil
}

// refusal is why one node cannot take the task: a reason kind and its
// detail. The zero value means the task fits.
type refusal struct{ kind, detail string }

// fits runs the filters and the resource checks; it returns the zero
// refusal when the task fits, else the first check that failed.
func (p *planner) fits(ns *nodeState) refusal {
	if p.onListener != (refusal{}) {
		return p.onListener
	}
	if ns.node.Status != structs.NodeReady {
		return refusal{structs.ReasonNodeStatus, ns.node.Status}
	}
	if ns.node.Eligibility != structs.EligibilityEligible {
		return refusal{structs.ReasonIneligible, ns.node.Eligibility}
	}
	for _, hp := range p.hostPaths {
		if !structs.HostPathAllowed(ns.node.AllowedHostPaths, hp) {
			return refusal{structs.ReasonHostPath, hp}
		}
	}
	if len(p.privileges) > 0 && !ns.node.AllowPrivileged {
		return refusal{structs.ReasonPrivileged, p.privileges[0]}
	}
	for _, f := range p.filters {
		if !f.ok(ns) {
			return refusal{structs.ReasonConstraint, f.String()}
		}
	}
	if ns.cpuFree < p.need.cpu {
		return refusal{kind: structs.ReasonCPU}
	}
	if ns.memFree < p.need.mem {
		return refusal{kind: structs.ReasonMemory}
	}
	if p.need.gpus > 0 && ns.freeGPUs() < p.need.gpus {
		return refusal{kind: structs.ReasonGPU}
	}
	for _, hp := range p.need.static {
		if ns.ports[hp] {
			return refusal{structs.ReasonHostPort, strconv.Itoa(hp)}
		}
	}
	if p.need.dynamic > 0 && p.freeDynamic(ns) < p.need.dynamic {
		return refusal{kind: structs.ReasonDynamicPorts}
	}
	return refusal{}
}

// freeGPUs counts the node's GPUs that no active task holds.
func (ns *nodeState) freeGPUs() int {
	n := 0
	for g := 0; g < ns.node.GPUs; g++ {
		if !ns.gpus[g] {
			n++
		}
	}
	return n
}

// freeDynamic counts free ports in the node's range, stopping once enough
// are found.
func (p *planner) freeDynamic(ns *nodeState) int {
	n := 0
	for port := ns.portNext; port <= ns.node.PortMax && n < p.need.dynamic; port++ {
		if !ns.ports[port] && !p.need.isStatic(port) && p.listeners[port] == "" {
			n++
		}
	}
	return n
}

// pick returns the best node for the next task, or nil.
func (p *planner) pick(ordinal int) *nodeState {
	if p.index != nil {
		return p.index.best()
	}
	var best *nodeState
	for _, ns := range p.nodes {
		if p.fits(ns) != (refusal{}) {
			continue
		}
		if best == nil || p.better(ns, best, ordinal) {
			best = ns
		}
	}
	return best
}

// better compares two feasible nodes by the strategies in order; ties fall
// to the node listed first.
func (p *planner) better(a, b *nodeState, ordinal int) bool {
	for _, s := range p.strategies {
		sa, sb := s.score(p, a, ordinal), s.score(p, b, ordinal)
		if sa != sb {
			return sa < sb
		}
	}
	return a.idx < b.idx
}

// commit takes the task's resources from the node.
func (p *planner) commit(ns *nodeState) Placement {
	ns.cpuFree -= p.need.cpu
	ns.memFree -= p.need.mem
	pl := Placement{Node: ns.node.ID}
	if len(p.need.mappingPort) > 0 {
		if ns.ports == nil {
			ns.ports = map[int]bool{}
		}
		pl.HostPorts = make([]int, len(p.need.mappingPort))
		// Static ports are taken first so that a dynamic one never lands
		// on a port this same task names.
		for i, hp := range p.need.mappingPort {
			if hp != 0 {
				ns.ports[hp] = true
				pl.HostPorts[i] = hp
			}
		}
		for i, hp := range p.need.mappingPort {
			if hp == 0 {
				for ns.ports[ns.portNext] || p.listeners[ns.portNext] != "" {
					ns.portNext++
				}
				ns.ports[ns.portNext] = true
				pl.HostPorts[i] = ns.portNext
			}
		}
	}
	for g := 0; len(pl.GPUs) < p.need.gpus; g++ {
		if !ns.gpus[g] {
			if ns.gpus == nil {
				ns.gpus = map[int]bool{}
			}
			ns.gpus[g] = true
			pl.GPUs = append(pl.GPUs, g)
		}
	}
	ns.svcTasks++
	if ns.attrGroup >= 0 {
		p.groupCounts[ns.attrGroup]++
	}
	if p.index != nil {
		p.index.update(ns)
	}
	return pl
}

// explain tells why no node can take one more task, counting nodes by the
// first check each failed, most common reason first.
func (p *planner) explain(count int) *structs.PlacementFailure {
	counts := map[refusal]int{}
	var order []refusal
	var mostMem, mostCPU int64 = -1, -1
	mostGPUs := -1
	for _, ns := range p.nodes {
		why := p.fits(ns)
		if counts[why] == 0 {
			order = append(order, why)
		}
		counts[why]++
		if ns.node.Status == structs.NodeReady && ns.memFree > mostMem {
			mostMem = ns.memFree
		}
		if ns.node.Status == structs.NodeReady && ns.cpuFree > mostCPU {
			mostCPU = ns.cpuFree
		}
		if ns.node.Status == structs.NodeReady && ns.freeGPUs() > mostGPUs {
			mostGPUs = ns.freeGPUs()
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return counts[order[i]] > counts[order[j]] })
	f := &structs.PlacementFailure{Count: count, TaskDefinition: p.job.TaskDef.Ref(), CPU: p.need.cpu, MemoryMiB: p.need.mem, Nodes: len(p.nodes)}
	for _, why := range order {
		r := structs.PlacementReason{Kind: why.kind, Nodes: counts[why], Detail: why.detail}
		switch why.kind {
		case structs.ReasonMemory:
			r.Need, r.MostFree = p.need.mem, mostMem
		case structs.ReasonCPU:
			r.Need, r.MostFree = p.need.cpu, mostCPU
		case structs.ReasonGPU:
			r.Need, r.MostFree = int64(p.need.gpus), int64(mostGPUs)
		}
		f.Reasons = append(f.Reasons, r)
	}
	return f
}
