package control

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/structs"
)

// The leader passes over a service whose last plan was whole until an
// entry changes it, its tasks or a node, or until time alone could change
// its plan. These tests hold everything else still and check that each of
// those still wakes the service.

func settledPlane(t *testing.T, pendingTimeout time.Duration) (*fakeRaft, *fsmtest.Committer) {
	r := newFakeRaft()
	c := fsmtest.New()
	cp := New(Config{ID: "n1", BootstrapExpect: 1, Voters: 3, DownAfter: time.Hour, PromoteAfter: time.Hour, RemoveAfter: time.Hour,
		PendingTimeout: pendingTimeout, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, r, noMembers{}, c.FSM, leaderOnly{r, c})
	run(t, cp)
	return r, c
}

func service(name string, count int, memory int64) fsm.ApplyService {
	return fsm.ApplyService{Service: structs.Service{Name: name, DesiredCount: count},
		TaskDefinition: &structs.TaskDefinition{Family: name, ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img", Memory: memory}}}}
}

// report has the node of each of a service's active tasks report it.
func report(t *testing.T, c *fsmtest.Committer, svc, status string) {
	t.Helper()
	var ups []fsm.TaskStatusUpdate
	for _, task := range c.FSM.State().TasksByService(svc) {
		if task.Active() {
			ups = append(ups, fsm.TaskStatusUpdate{ID: task.ID, Node: task.Node, LastStatus: status, At: time.Now().UnixMilli()})
		}
	}
	mustCommit(t, c, fsm.CmdUpdateTaskStatus, fsm.UpdateTaskStatus{Updates: ups})
}

func active(st *fsm.State, svc string) (n int) {
	for _, task := range st.TasksByService(svc) {
		if task.Active() {
			n++
		}
	}
	return n
}

// A pending task that times out while nothing else happens is still
// stopped and placed again.
func TestSettledServiceWakesWhenAPendingTaskTimesOut(t *testing.T) {
	r, c := settledPlane(t, 1500*time.Millisecond)
	mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, PortMin: 1, PortMax: 2}})
	mustCommit(t, c, fsm.CmdApplyService, service("web", 1, 10))
	r.setLeading(true)
	waitFor(t, "a pending task", func() bool { return active(c.FSM.State(), "web") == 1 })
	first := c.FSM.State().TasksByService("web")[0].ID
	waitFor(t, "the pending task replaced after its timeout", func() bool {
		st := c.FSM.State()
		return st.Task(first).DesiredStatus == structs.StatusStopped && len(st.TasksByService("web")) == 2
	})
}

// A service that could not be placed is placed once another service's
// task stops and frees the room, though nothing of its own changed.
func TestUnplacedServiceWakesWhenRoomFrees(t *testing.T) {
	r, c := settledPlane(t, time.Hour)
	mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 4096, MemoryMiB: 20, PortMin: 1, PortMax: 2}})
	mustCommit(t, c, fsm.CmdApplyService, service("a", 2, 10))
	r.setLeading(true)
	waitFor(t, "a placed", func() bool { return active(c.FSM.State(), "a") == 2 })
	report(t, c, "a", structs.StatusRunning)
	mustCommit(t, c, fsm.CmdApplyService, service("b", 1, 10))
	waitFor(t, "b refused for room", func() bool { return c.FSM.State().Service("b").PlacementFailure != nil })
	mustCommit(t, c, fsm.CmdScaleService, fsm.ScaleService{Name: "a", DesiredCount: 1})
	waitFor(t, "a scaled down", func() bool {
		for _, task := range c.FSM.State().TasksByService("a") {
			if task.DesiredStatus == structs.StatusStopped && task.LastStatus == structs.StatusRunning {
				return true
			}
		}
		return false
	})
	var ups []fsm.TaskStatusUpdate
	for _, task := range c.FSM.State().TasksByService("a") {
		if task.DesiredStatus == structs.StatusStopped {
			ups = append(ups, fsm.TaskStatusUpdate{ID: task.ID, Node: task.Node, LastStatus: structs.StatusStopped, At: time.Now().UnixMilli()})
		}
	}
	mustCommit(t, c, fsm.CmdUpdateTaskStatus, fsm.UpdateTaskStatus{Updates: ups})
	waitFor(t, "b placed in the freed room", func() bool { return active(c.FSM.State(), "b") == 1 })
}

// A settled service whose node is drained moves its task.
func TestSettledServiceWakesWhenItsNodeIsDrained(t *testing.T) {
	r, c := settledPlane(t, time.Hour)
	for _, id := range []string{"n1", "n2"} {
		mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: id, CPU: 4096, MemoryMiB: 4096, PortMin: 1, PortMax: 2}})
	}
	mustCommit(t, c, fsm.CmdApplyService, service("web", 1, 10))
	r.setLeading(true)
	waitFor(t, "a task", func() bool { return active(c.FSM.State(), "web") == 1 })
	report(t, c, "web", structs.StatusRunning)
	on := c.FSM.State().TasksByService("web")[0].Node
	// Give the leader a pass over the settled service before the drain.
	time.Sleep(100 * time.Millisecond)
	mustCommit(t, c, fsm.CmdSetNodeStatus, fsm.SetNodeStatus{ID: on, Eligibility: structs.EligibilityIneligible})
	waitFor(t, "a replacement off the drained node", func() bool {
		for _, task := range c.FSM.State().TasksByService("web") {
			if task.Active() && task.Node != on {
				return true
			}
		}
		return false
	})
}

// stoppedTasks places n tasks of svc (one-off ones for "") on n1 and has
// the node report them stopped, the i-th at base+i.
func stoppedTasks(t *testing.T, c *fsmtest.Committer, svc, prefix string, n int, base int64) {
	t.Helper()
	var place []structs.Task
	var ups []fsm.TaskStatusUpdate
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		place = append(place, structs.Task{ID: id, Service: svc, TaskDefinition: "web:1", Node: "n1",
			DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending})
		ups = append(ups, fsm.TaskStatusUpdate{ID: id, Node: "n1", LastStatus: structs.StatusStopped, At: base + int64(i)})
	}
	mustCommit(t, c, fsm.CmdCommitPlan, fsm.CommitPlan{Place: place, At: 1})
	mustCommit(t, c, fsm.CmdUpdateTaskStatus, fsm.UpdateTaskStatus{Updates: ups})
}

// Garbage collection keeps the newest stopped tasks of each service and of
// one-off runs, also for tasks that stop after it has looked once.
func TestGarbageCollectionKeepsTheNewest(t *testing.T) {
	r, c := settledPlane(t, time.Hour)
	mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, PortMin: 1, PortMax: 2}})
	mustCommit(t, c, fsm.CmdApplyService, service("web", 0, 10))
	stoppedTasks(t, c, "web", "old", 15, 1000)
	stoppedTasks(t, c, "", "run", keepStoppedOneOff+5, 1000)
	r.setLeading(true)
	kept := func(svc string) []string {
		tasks := c.FSM.State().TasksByService(svc)
		if svc == "" {
			tasks = c.FSM.State().OneOffTasks()
		}
		var out []string
		for _, task := range tasks {
			out = append(out, task.ID)
		}
		return out
	}
	waitFor(t, "the oldest stopped tasks collected", func() bool {
		return len(kept("web")) == keepStoppedPerService && len(kept("")) == keepStoppedOneOff
	})
	if got := kept("web"); got[0] != "old-005" {
		t.Fatalf("kept %v, want the newest from old-005 on", got)
	}
	if got := kept(""); got[0] != "run-005" {
		t.Fatalf("kept one-off tasks from %s, want from run-005 on", got[0])
	}
	stoppedTasks(t, c, "web", "new", 3, 2000)
	waitFor(t, "the later stopped tasks collected too", func() bool {
		got := kept("web")
		return len(got) == keepStoppedPerService && got[0] == "new-000" && got[len(got)-1] == "old-014"
	})
}
