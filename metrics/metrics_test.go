package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/skiff-run/skiff/structs"
)

type fakeSource struct{ usageErr error }

func (fakeSource) Raft() RaftStatus {
	return RaftStatus{IsLeader: true, LastIndex: 42, CommitIndex: 41, AppliedIndex: 40, LeaderChanges: 3}
}

func (fakeSource) MemberStates() map[string]int { return map[string]int{"alive": 2, "dead": 1} }

func (fakeSource) Reservations() []structs.NodeUsage {
	return []structs.NodeUsage{{Node: "n1", NodeName: "pi-1", CPU: 4096, MemoryMiB: 2048, CPUReserved: 256, MemoryReservedMiB: 128}}
}

func (f fakeSource) Usage(context.Context) (structs.NodeUsage, error) {
	if f.usageErr != nil {
		return structs.NodeUsage{}, f.usageErr
	}
	return structs.NodeUsage{Node: "n1", NodeName: "pi-1", CPUUsed: 512, MemoryUsedBytes: 1 << 20, Containers: []structs.ContainerUsage{
		{Task: "t1", Service: "web", Container: "app", CPUSeconds: 1.5, MemoryBytes: 1 << 20, NetRxBytes: 10, NetTxBytes: 20, Restarts: 1}}}, nil
}

func TestMetrics(t *testing.T) {
	m := New(fakeSource{})
	m.ObserveCommit(3 * time.Millisecond)
	m.ObservePlan(time.Millisecond, 5, 2)
	m.ObservePlan(time.Millisecond, 1, 0)
	want := `
# HELP skiff_gossip_members Gossip members this agent sees, by state.
# TYPE skiff_gossip_members gauge
skiff_gossip_members{state="alive"} 2
skiff_gossip_members{state="dead"} 1
# HELP skiff_node_cpu_reserved_units CPU units the active tasks of a node reserve.
# TYPE skiff_node_cpu_reserved_units gauge
skiff_node_cpu_reserved_units{node="n1",node_name="pi-1"} 256
# HELP skiff_node_memory_used_bytes Memory this agent's task containers use; this agent's node only.
# TYPE skiff_node_memory_used_bytes gauge
skiff_node_memory_used_bytes{node="n1",node_name="pi-1"} 1.048576e+06
# HELP skiff_raft_applied_index Index of the last entry this agent's state machine applied.
# TYPE skiff_raft_applied_index gauge
skiff_raft_applied_index 40
# HELP skiff_raft_leader_changes_total Changes of leader this agent has seen since it started.
# TYPE skiff_raft_leader_changes_total counter
skiff_raft_leader_changes_total 3
# HELP skiff_scheduler_placement_failures_total Tasks the scheduler could not place while this agent led, counted at each plan that left them out.
# TYPE skiff_scheduler_placement_failures_total counter
skiff_scheduler_placement_failures_total 2
# HELP skiff_scheduler_placements_total Tasks the scheduler placed while this agent led.
# TYPE skiff_scheduler_placements_total counter
skiff_scheduler_placements_total 6
# HELP skiff_task_cpu_seconds_total CPU time a task container used since it started.
# TYPE skiff_task_cpu_seconds_total counter
skiff_task_cpu_seconds_total{container="app",service="web",task="t1"} 1.5
# HELP skiff_task_container_restarts Times the engine restarted a task container.
# TYPE skiff_task_container_restarts gauge
skiff_task_container_restarts{container="app",service="web",task="t1"} 1
# HELP skiff_task_network_transmit_bytes_total Bytes a task container sent since it started.
# TYPE skiff_task_network_transmit_bytes_total counter
skiff_task_network_transmit_bytes_total{container="app",service="web",task="t1"} 20
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "skiff_gossip_members", "skiff_node_cpu_reserved_units", "skiff_node_memory_used_bytes",
		"skiff_raft_applied_index", "skiff_raft_leader_changes_total", "skiff_scheduler_placement_failures_total", "skiff_scheduler_placements_total",
		"skiff_task_cpu_seconds_total", "skiff_task_container_restarts", "skiff_task_network_transmit_bytes_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(m.reg, "skiff_raft_commit_seconds", "skiff_scheduler_plan_seconds"); err != nil || n != 2 {
		t.Errorf("%d histograms (%v), want the commit and the plan times", n, err)
	}
}

// TestMetricsWithoutEngine scrapes an agent whose engine does not answer:
// the rest is still served.
func TestMetricsWithoutEngine(t *testing.T) {
	m := New(fakeSource{usageErr: errors.New("engine down")})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 || !strings.Contains(string(body), "skiff_raft_last_index 42") || strings.Contains(string(body), "skiff_task_cpu_seconds_total") {
		t.Errorf("status %d, body:\n%s\nwant 200 with Raft's figures and no task's", rec.Code, body)
	}
}
