package control

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/structs"
)

func daemon(name string, memory int64, constraints ...structs.PlacementConstraint) fsm.ApplyService {
	a := service(name, 0, memory)
	a.Service.SchedulingStrategy = structs.SchedulingDaemon
	a.Service.PlacementConstraints = constraints
	return a
}

func edgeNode(id string, memory int64, role string) fsm.RegisterNode {
	return fsm.RegisterNode{Node: structs.Node{ID: id, CPU: 4096, MemoryMiB: memory, PortMin: 1, PortMax: 2,
		Attributes: map[string]string{"role": role}}}
}

// activeNodes lists the nodes of a service's active tasks, sorted, a node
// once per task.
func activeNodes(st *fsm.State, svc string) []string {
	var out []string
	for _, task := range st.TasksByService(svc) {
		if task.Active() && task.DesiredStatus == structs.StatusRunning {
			out = append(out, task.Node)
		}
	}
	slices.Sort(out)
	return out
}

func waitNodes(t *testing.T, c *fsmtest.Committer, svc string, want ...string) {
	t.Helper()
	waitFor(t, svc+" on "+strings.Join(want, ", "), func() bool { return slices.Equal(activeNodes(c.FSM.State(), svc), want) })
}

// A daemon runs one task on every node its constraints admit. A node that
// joins gets its task though the service itself never changed, which is
// the settled optimisation waking on a node's entry; a drained node's task
// stops and is not replaced; a node that no longer matches loses its task.
func TestDaemonFollowsNodes(t *testing.T) {
	r, c := newFakeRaft(), fsmtest.New()
	cp := New(Config{ID: "n1", BootstrapExpect: 1, Voters: 3, DownAfter: time.Hour, PromoteAfter: time.Hour, RemoveAfter: time.Hour,
		PendingTimeout: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, r, noMembers{}, c.FSM, leaderOnly{r, c})
	run(t, cp)
	// settle waits until the leader has settled the daemon on the newest
	// state, so that what follows is seen only if a node's entry wakes it.
	settle := func() {
		t.Helper()
		waitFor(t, "the daemon settled", func() bool {
			cp.planMu.Lock()
			defer cp.planMu.Unlock()
			if cp.term == nil {
				return false
			}
			s, ok := cp.term.settled["agent"]
			return ok && s.index == c.FSM.State().Index()
		})
	}
	edge := structs.PlacementConstraint{Type: "memberOf", Expression: "attribute:role == edge"}
	mustCommit(t, c, fsm.CmdRegisterNode, edgeNode("n1", 4096, "edge"))
	mustCommit(t, c, fsm.CmdRegisterNode, edgeNode("n2", 4096, "edge"))
	mustCommit(t, c, fsm.CmdRegisterNode, edgeNode("core", 4096, "core"))
	mustCommit(t, c, fsm.CmdApplyDaemonService, daemon("agent", 10, edge))
	r.setLeading(true)
	waitNodes(t, c, "agent", "n1", "n2")
	report(t, c, "agent", structs.StatusRunning)
	settle()

	mustCommit(t, c, fsm.CmdRegisterNode, edgeNode("n3", 4096, "edge"))
	waitNodes(t, c, "agent", "n1", "n2", "n3")
	report(t, c, "agent", structs.StatusRunning)
	settle()

	mustCommit(t, c, fsm.CmdSetNodeStatus, fsm.SetNodeStatus{ID: "n2", Eligibility: structs.EligibilityIneligible})
	waitNodes(t, c, "agent", "n1", "n3")

	mustCommit(t, c, fsm.CmdRegisterNode, edgeNode("n3", 4096, "core"))
	waitNodes(t, c, "agent", "n1")
	var reasons []string
	for _, task := range c.FSM.State().TasksByService("agent") {
		if task.DesiredStatus == structs.StatusStopped {
			reasons = append(reasons, task.Node+": "+task.StopReason)
		}
	}
	slices.Sort(reasons)
	want := []string{"n2: node drained; a daemon task does not move",
		"n3: node no longer runs the daemon: excluded by constraint memberOf attribute:role == edge"}
	if !slices.Equal(reasons, want) {
		t.Fatalf("stop reasons %q, want %q", reasons, want)
	}

	mustCommit(t, c, fsm.CmdSetNodeStatus, fsm.SetNodeStatus{ID: "n2", Eligibility: structs.EligibilityEligible})
	waitNodes(t, c, "agent", "n1", "n2")
}

// A node meant for the daemon that has no room for its task is explained,
// by node count and kind, and gets the task once it has room.
func TestDaemonExplainsNodesWithoutRoom(t *testing.T) {
	r, c := settledPlane(t, time.Hour)
	mustCommit(t, c, fsm.CmdRegisterNode, edgeNode("n1", 4096, "edge"))
	mustCommit(t, c, fsm.CmdRegisterNode, edgeNode("small", 5, "edge"))
	mustCommit(t, c, fsm.CmdApplyDaemonService, daemon("agent", 10))
	r.setLeading(true)
	waitNodes(t, c, "agent", "n1")
	waitFor(t, "the small node explained", func() bool {
		f := c.FSM.State().Service("agent").PlacementFailure
		return f != nil && f.Count == 1 && len(f.Reasons) == 1 && f.Reasons[0].Kind == structs.ReasonMemory
	})
	mustCommit(t, c, fsm.CmdRegisterNode, edgeNode("small", 4096, "edge"))
	waitNodes(t, c, "agent", "n1", "small")
	waitFor(t, "the failure cleared", func() bool { return c.FSM.State().Service("agent").PlacementFailure == nil })
}

// A new revision of a daemon replaces each node's task on that node.
func TestDaemonNewRevisionReplacesInPlace(t *testing.T) {
	r, c := settledPlane(t, time.Hour)
	mustCommit(t, c, fsm.CmdRegisterNode, edgeNode("n1", 4096, "edge"))
	mustCommit(t, c, fsm.CmdRegisterNode, edgeNode("n2", 4096, "edge"))
	mustCommit(t, c, fsm.CmdApplyDaemonService, daemon("agent", 10))
	r.setLeading(true)
	waitNodes(t, c, "agent", "n1", "n2")
	next := daemon("agent", 20)
	mustCommit(t, c, fsm.CmdApplyDaemonService, next)
	waitFor(t, "both nodes on agent:2", func() bool {
		st := c.FSM.State()
		var on []string
		for _, task := range st.TasksByService("agent") {
			if task.Active() && task.DesiredStatus == structs.StatusRunning && task.TaskDefinition == "agent:2" {
				on = append(on, task.Node)
			}
		}
		slices.Sort(on)
		return slices.Equal(on, []string{"n1", "n2"}) && len(activeNodes(st, "agent")) == 2
	})
}
