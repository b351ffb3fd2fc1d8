package control

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/structs"
)

func spreadWeb(count int, rebalance *bool) fsm.ApplyService {
	a := webService("app:1", count, nil)
	a.Service.PlacementStrategy = []structs.PlacementStrategy{{Type: "spread", Field: "instanceId"}}
	a.Service.Rebalance = rebalance
	return a
}

func bigNode(id string) fsm.RegisterNode {
	return fsm.RegisterNode{Node: structs.Node{ID: id, CPU: 64 * 1024, MemoryMiB: 64 * 1024, PortMin: 1, PortMax: 2}}
}

// moveWatch checks the state after every entry once armed: web keeps at
// least minHealthy healthy tasks and at most one task beyond its desired
// count wanted, and it counts the moves started.
type moveWatch struct {
	k          *deployRig
	minHealthy int
	armed      bool
	moves      int
	failed     []string
	// freezeOnMove holds the node's reports back once a move starts.
	freezeOnMove bool
}

func watchMoves(k *deployRig, desired int) *moveWatch {
	w := &moveWatch{k: k}
	w.minHealthy, _ = (*structs.DeploymentConfiguration)(nil).Bounds(desired)
	k.after = func(st *fsm.State, t fsm.CommandType) {
		if t == fsm.CmdMoveTask {
			w.moves++
			if w.freezeOnMove {
				k.frozen = true
			}
		}
		if !w.armed {
			return
		}
		healthy, wanted := 0, 0
		for _, task := range st.TasksByService("web") {
			if task.Active() && task.DesiredStatus == structs.StatusRunning {
				wanted++
				if task.LastStatus == structs.StatusRunning && time.Since(time.UnixMilli(task.StartedAt)) >= testHealthyAfter {
					healthy++
				}
			}
		}
		if healthy < w.minHealthy {
			w.failed = append(w.failed, fmt.Sprintf("after a %s entry web had %d healthy tasks, fewer than its minimum %d", t, healthy, w.minHealthy))
		}
		if wanted > desired+1 {
			w.failed = append(w.failed, fmt.Sprintf("after a %s entry web had %d tasks wanted, more than one beyond its %d", t, wanted, desired))
		}
	}
	return w
}

// arm starts the checks; web must run its desired count, healthy.
func (w *moveWatch) arm() {
	w.k.mu.Lock()
	w.armed = true
	w.k.mu.Unlock()
}

// result returns the moves started and the failed checks.
func (w *moveWatch) result() (int, []string) {
	w.k.mu.Lock()
	defer w.k.mu.Unlock()
	return w.moves, append([]string(nil), w.failed...)
}

// spreadOf counts web's wanted tasks by node, and reports whether every
// one of them runs with no move under way.
func spreadOf(st *fsm.State) (map[string]int, bool) {
	out := map[string]int{}
	steady := true
	tasks := st.TasksByService("web")
	for _, task := range tasks {
		if task.Active() && task.DesiredStatus == structs.StatusRunning {
			out[task.Node]++
			steady = steady && task.LastStatus == structs.StatusRunning
		}
		if task.Active() && task.DesiredStatus == structs.StatusStopped {
			steady = false
		}
	}
	if r, _ := structs.MoveOf(tasks); r != nil {
		steady = false
	}
	return out, steady
}

func waitSpread(t *testing.T, k *deployRig, want map[string]int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("web spread %v", want), func() bool {
		got, steady := spreadOf(k.c.FSM.State())
		return steady && maps.Equal(got, want)
	})
}

// startSpread runs 6 tasks of web on n1 and n2, 3 each, healthy, under a
// leader on r, and arms the watch.
func startSpread(t *testing.T, k *deployRig, r *fakeRaft, w *moveWatch, rebalance *bool) *ControlPlane {
	t.Helper()
	k.commit(fsm.CmdRegisterNode, bigNode("n2"))
	cp := k.leader(r)
	k.commit(fsm.CmdApplyService, spreadWeb(6, rebalance))
	r.setLeading(true)
	waitSpread(t, k, map[string]int{"n1": 3, "n2": 3})
	time.Sleep(2 * testHealthyAfter)
	w.arm()
	return cp
}

// settledAfter waits until the leader has planned web, healthy, from a
// state at index or later and found nothing to do, so that a test knows
// its last entry was seen.
func settledAfter(t *testing.T, cp *ControlPlane, index uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("web settled at index %d or later", index), func() bool {
		cp.planMu.Lock()
		defer cp.planMu.Unlock()
		if cp.term == nil {
			return false
		}
		s, ok := cp.term.settled["web"]
		return ok && s.index >= index
	})
}

// A third node joins a spread service of 6 tasks on 2 nodes: the leader
// moves one task at a time, each replacement healthy before the task it
// replaces stops, until the spread is 2-2-2, and then moves nothing more.
func TestRebalanceOnJoin(t *testing.T) {
	k := newDeployRig(t)
	w := watchMoves(k, 6)
	r := newFakeRaft()
	startSpread(t, k, r, w, nil)
	k.commit(fsm.CmdRegisterNode, bigNode("n3"))
	waitSpread(t, k, map[string]int{"n1": 2, "n2": 2, "n3": 2})
	time.Sleep(5 * testHealthyAfter)
	if got, _ := spreadOf(k.c.FSM.State()); !maps.Equal(got, map[string]int{"n1": 2, "n2": 2, "n3": 2}) {
		t.Errorf("spread %v after it was even: want it to stay 2-2-2", got)
	}
	moves, failed := w.result()
	for _, f := range failed {
		t.Error(f)
	}
	if moves != 2 {
		t.Errorf("%d moves: want 2, one from each full node", moves)
	}
	for _, task := range k.c.FSM.State().TasksByService("web") {
		if task.Replaces != "" && task.Node != "n3" {
			t.Errorf("replacement %s went to %s, want n3", task.ID, task.Node)
		}
	}
}

// "rebalance": false keeps the tasks where they are.
func TestRebalanceOptOut(t *testing.T) {
	k := newDeployRig(t)
	w := watchMoves(k, 6)
	r := newFakeRaft()
	cp := startSpread(t, k, r, w, new(bool))
	k.commit(fsm.CmdRegisterNode, bigNode("n3"))
	// The leader plans web again on the node's entry; that plan, and the
	// passes after it, may not move it.
	settledAfter(t, cp, k.c.FSM.State().Index())
	time.Sleep(5 * testHealthyAfter)
	if got, _ := spreadOf(k.c.FSM.State()); !maps.Equal(got, map[string]int{"n1": 3, "n2": 3}) {
		t.Errorf("spread %v: want 3-3 kept", got)
	}
	if moves, _ := w.result(); moves != 0 {
		t.Errorf("%d moves of a service that opted out", moves)
	}
}

// A leader that stops leading with a move half done (its replacement
// still pending) leaves the move in the state: the next leader finishes
// it rather than start another, and the service ends 2-2-2 after two
// moves, never below its minimum.
func TestNewLeaderFinishesMove(t *testing.T) {
	k := newDeployRig(t)
	w := watchMoves(k, 6)
	r1 := newFakeRaft()
	startSpread(t, k, r1, w, nil)
	k.mu.Lock()
	w.freezeOnMove = true
	k.mu.Unlock()
	k.commit(fsm.CmdRegisterNode, bigNode("n3"))
	waitFor(t, "a move under way", func() bool {
		r, _ := structs.MoveOf(k.c.FSM.State().TasksByService("web"))
		return r != nil
	})
	r1.setLeading(false)
	if r, o := structs.MoveOf(k.c.FSM.State().TasksByService("web")); r == nil || r.LastStatus != structs.StatusPending {
		t.Fatalf("move of %v to %v: want one left half done, its replacement pending, when the leader stopped leading", o, r)
	}
	k.mu.Lock()
	w.freezeOnMove = false
	k.mu.Unlock()
	r2 := newFakeRaft()
	k.leader(r2)
	r2.setLeading(true)
	k.freeze(false)
	waitSpread(t, k, map[string]int{"n1": 2, "n2": 2, "n3": 2})
	moves, failed := w.result()
	for _, f := range failed {
		t.Error(f)
	}
	if moves != 2 {
		t.Errorf("%d moves: want 2, the first finished by the new leader", moves)
	}
}

// A replacement that fails leaves the task it was to replace running, and
// no move goes to that node again for the same revision.
func TestFailedMoveKeepsTheTask(t *testing.T) {
	k := newDeployRig(t)
	w := watchMoves(k, 6)
	r := newFakeRaft()
	startSpread(t, k, r, w, nil)
	k.mu.Lock()
	k.crash = func(t *structs.Task) bool { return t.Node == "n3" && t.LastStatus == structs.StatusRunning }
	k.mu.Unlock()
	k.commit(fsm.CmdRegisterNode, bigNode("n3"))
	waitFor(t, "a failed replacement", func() bool {
		for _, task := range k.c.FSM.State().TasksByService("web") {
			if task.Replaces != "" && task.Failed {
				return true
			}
		}
		return false
	})
	time.Sleep(10 * testHealthyAfter)
	if got, steady := spreadOf(k.c.FSM.State()); !steady || !maps.Equal(got, map[string]int{"n1": 3, "n2": 3}) {
		t.Errorf("spread %v (steady %v): want 3-3 kept", got, steady)
	}
	moves, failed := w.result()
	for _, f := range failed {
		t.Error(f)
	}
	if moves != 1 {
		t.Errorf("%d moves: want the one that failed, and no other to the node where it failed", moves)
	}
}

// moveStep decides a move under way from the tasks alone: it waits for
// the replacement's health gate, then stops the replaced task, unless
// that would leave too few healthy tasks; an unhealthy replacement is
// stopped instead.
func TestMoveStep(t *testing.T) {
	cp := New(Config{HealthyAfter: time.Second, Logger: slog.New(slog.DiscardHandler)}, nil, nil, nil, nil)
	st := fsmtest.New().FSM.State()
	nowT := time.UnixMilli(100_000)
	td := &structs.TaskDefinition{Family: "web", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img"}}}
	task := func(id, replaces string, startedAt int64, health string) *structs.Task {
		return &structs.Task{ID: id, Service: "web", TaskDefinition: "web:1", Node: "n-" + id, Replaces: replaces,
			DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusRunning, StartedAt: startedAt,
			Containers: []structs.ContainerState{{Name: "app", Status: "running", Health: health}}}
	}
	svc := &structs.Service{Name: "web", TaskDefinition: "web:1", DesiredCount: 2}
	ids := func(ts []*structs.Task) (out []string) {
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return out
	}
	t.Run("waits for the health gate", func(t *testing.T) {
		stop, rest, until := cp.moveStep(st, svc, td, []*structs.Task{task("a", "", 1, ""), task("b", "", 1, ""), task("r", "a", 99_500, "")}, nowT)
		if stop != nil || !slices.Equal(ids(rest), []string{"b", "r"}) || !until.Equal(time.UnixMilli(100_500)) {
			t.Errorf("stop %v, rest %v, until %v: want no stop yet, the pair counted once, a wake at the gate", stop, ids(rest), until)
		}
	})
	t.Run("stops the replaced task once the replacement is healthy", func(t *testing.T) {
		stop, _, _ := cp.moveStep(st, svc, td, []*structs.Task{task("a", "", 1, ""), task("b", "", 1, ""), task("r", "a", 99_000, "")}, nowT)
		if stop == nil || stop.ID != "a" || !strings.Contains(stop.Reason, "rebalanced: replaced by task r") {
			t.Errorf("stop %+v: want a, rebalanced", stop)
		}
	})
	t.Run("keeps the minimum healthy", func(t *testing.T) {
		stop, _, _ := cp.moveStep(st, svc, td, []*structs.Task{task("a", "", 1, ""), task("b", "", 99_900, ""), task("r", "a", 99_000, "")}, nowT)
		if stop != nil {
			t.Errorf("stop %+v: want none while b is not healthy yet and the minimum is 2", stop)
		}
	})
	t.Run("gives up on an unhealthy replacement", func(t *testing.T) {
		stop, rest, _ := cp.moveStep(st, svc, td, []*structs.Task{task("a", "", 1, ""), task("b", "", 1, ""), task("r", "a", 99_000, "unhealthy")}, nowT)
		if stop == nil || stop.ID != "r" || !strings.Contains(stop.Reason, "rebalance abandoned") || !slices.Equal(ids(rest), []string{"a", "b"}) {
			t.Errorf("stop %+v, rest %v: want r stopped and a kept", stop, ids(rest))
		}
	})
}

// A service whose volume keeps its data on the node does not move: its
// tasks would leave their data behind.
func TestRebalanceLeavesDataWhereItIs(t *testing.T) {
	k := newDeployRig(t)
	w := watchMoves(k, 6)
	r := newFakeRaft()
	k.commit(fsm.CmdRegisterNode, bigNode("n2"))
	cp := k.leader(r)
	a := spreadWeb(6, nil)
	a.TaskDefinition.Volumes = []structs.Volume{{Name: "data", DockerVolumeConfiguration: &structs.DockerVolumeConfiguration{Scope: structs.ScopeShared}}}
	k.commit(fsm.CmdApplyService, a)
	r.setLeading(true)
	waitSpread(t, k, map[string]int{"n1": 3, "n2": 3})
	time.Sleep(2 * testHealthyAfter)
	w.arm()
	k.commit(fsm.CmdRegisterNode, bigNode("n3"))
	settledAfter(t, cp, k.c.FSM.State().Index())
	time.Sleep(5 * testHealthyAfter)
	if got, _ := spreadOf(k.c.FSM.State()); !maps.Equal(got, map[string]int{"n1": 3, "n2": 3}) {
		t.Errorf("spread %v: want 3-3 kept", got)
	}
	if moves, _ := w.result(); moves != 0 {
		t.Errorf("%d moves of a service with a shared volume", moves)
	}
}
