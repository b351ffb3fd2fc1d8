package fsm

import (
	"errors"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

func placeFixture(t *testing.T) *FSM {
	t.Helper()
	f := New(nil)
	for i, id := range []string{"n1", "n2"} {
		mustApply(t, f, uint64(i+1), CmdRegisterNode, RegisterNode{Node: structs.Node{ID: id, Name: id, CPU: 1024, MemoryMiB: 100, PortMin: 20000, PortMax: 20010}})
	}
	mustApply(t, f, 3, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 2, Scheduler: structs.SchedulerExternal}, TaskDefinition: webDef("a")})
	return f
}

// A run on named nodes commits whole or not at all, and Apply decides the
// fit itself against the state it finds.
func TestPlaceTasksAllOrNothing(t *testing.T) {
	f := placeFixture(t)
	// webDef reserves 32 MiB: three fit on n1, the fourth does not.
	var tasks []structs.Task
	for _, id := range []string{"a", "b", "c", "d"} {
		tasks = append(tasks, structs.Task{ID: id, TaskDefinition: "web:1", Node: "n1"})
	}
	err, _ := apply(t, f, 4, CmdPlaceTasks, PlaceTasks{New: tasks, At: 10}).(error)
	var pe *structs.PlacementError
	if !errors.As(err, &pe) || pe.Failure.Node != "n1" || pe.Failure.Reasons[0].Kind != structs.ReasonMemory {
		t.Fatalf("got %v: want n1 refusing for memory", err)
	}
	if n := len(f.State().Tasks()); n != 0 {
		t.Fatalf("a refused run left %d tasks", n)
	}
	mustApply(t, f, 5, CmdPlaceTasks, PlaceTasks{New: tasks[:3], At: 10})
	for _, task := range f.State().TasksByNode("n1") {
		if task.MemoryMiB != 32 || task.CreatedAt != 10 || task.LastStatus != structs.StatusPending {
			t.Fatalf("placed %+v", task)
		}
	}
}

// An unplaced task of an external service is placed once; the second
// placement is refused, as is one that no longer fits.
func TestPlaceTasksAssign(t *testing.T) {
	f := placeFixture(t)
	mustApply(t, f, 4, CmdPlaceTasks, PlaceTasks{New: []structs.Task{{ID: "u1", Service: "web", TaskDefinition: "web:1"},
		{ID: "u2", Service: "web", TaskDefinition: "web:1"}}, At: 1})
	if u := f.State().Task("u1"); u == nil || !u.Unplaced() || structs.ClusterName(u.Cluster) != structs.DefaultCluster || u.MemoryMiB != 32 {
		t.Fatalf("unplaced task %+v", u)
	}
	mustApply(t, f, 5, CmdPlaceTasks, PlaceTasks{Assign: []TaskPlacement{{ID: "u1", Node: "n2"}}, At: 7})
	if u := f.State().Task("u1"); u.Node != "n2" || u.CreatedAt != 7 {
		t.Fatalf("placed %+v", u)
	}
	err, _ := apply(t, f, 6, CmdPlaceTasks, PlaceTasks{Assign: []TaskPlacement{{ID: "u1", Node: "n1"}}}).(error)
	if !errors.Is(err, structs.ErrConflict) || !strings.Contains(err.Error(), "already placed on node n2") {
		t.Fatalf("second placement: %v", err)
	}
	// n2 fills up with one-off tasks; u2 no longer fits there.
	mustApply(t, f, 7, CmdPlaceTasks, PlaceTasks{New: []structs.Task{{ID: "o1", TaskDefinition: "web:1", Node: "n2"}, {ID: "o2", TaskDefinition: "web:1", Node: "n2"}}})
	err, _ = apply(t, f, 8, CmdPlaceTasks, PlaceTasks{Assign: []TaskPlacement{{ID: "u2", Node: "n2"}}}).(error)
	var pe *structs.PlacementError
	if !errors.As(err, &pe) || !f.State().Task("u2").Unplaced() {
		t.Fatalf("placement on a full node: %v", err)
	}
	// A stopped unplaced task is over at once, and cannot be placed.
	mustApply(t, f, 9, CmdCommitPlan, CommitPlan{Stop: []TaskStop{{ID: "u2", Reason: "scaled down"}}})
	if u := f.State().Task("u2"); u.LastStatus != structs.StatusStopped {
		t.Fatalf("stopped unplaced task %+v", u)
	}
	if err, _ := apply(t, f, 10, CmdPlaceTasks, PlaceTasks{Assign: []TaskPlacement{{ID: "u2", Node: "n1"}}}).(error); !errors.Is(err, structs.ErrConflict) {
		t.Fatalf("placing a stopped task: %v", err)
	}
	// Only an external service's tasks may wait unplaced.
	mustApply(t, f, 11, CmdApplyService, ApplyService{Service: structs.Service{Name: "api", DesiredCount: 1}, TaskDefinition: webDef("a")})
	if err, _ := apply(t, f, 12, CmdPlaceTasks, PlaceTasks{New: []structs.Task{{ID: "u3", Service: "api", TaskDefinition: "web:1"}}}).(error); err == nil {
		t.Fatal("an unplaced task of a service the leader places was accepted")
	}
}
