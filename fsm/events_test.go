package fsm

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// kinds lists the events after index as "kind message" lines.
func kinds(f *FSM, after uint64) []string {
	var out []string
	for _, e := range f.State().EventsAfter(after) {
		out = append(out, e.Kind+" "+e.Message)
	}
	return out
}

func wantEvents(t *testing.T, f *FSM, after uint64, want ...string) {
	t.Helper()
	got := kinds(f, after)
	if len(got) != len(want) {
		t.Fatalf("events after %d:\n%s\nwant %d:\n%s", after, strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("event %d: %q, want it to start with %q", i, got[i], want[i])
		}
	}
}

func TestEventsOfATaskLife(t *testing.T) {
	f := New(nil)
	td := structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img"}}}
	mustApply(t, f, 1, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1", Name: "pi-1", Address: "10.0.0.1"}, At: 100})
	mustApply(t, f, 2, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1}, TaskDefinition: &td, At: 200})
	task := structs.Task{ID: "0190aaaa-0000-7000-8000-00000000abcd", Service: "web", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}
	mustApply(t, f, 3, CmdCommitPlan, CommitPlan{Place: []structs.Task{task}, At: 300})
	report := func(idx uint64, status, health string, at int64) {
		mustApply(t, f, idx, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: task.ID, Node: "n1", LastStatus: status, At: at,
			Containers: []structs.ContainerState{{Name: "app", Status: "running", Health: health}}}}})
	}
	report(4, structs.StatusRunning, "starting", 400)
	report(5, structs.StatusRunning, "healthy", 500)
	report(6, structs.StatusRunning, "healthy", 550)
	report(7, structs.StatusRunning, "unhealthy", 600)
	mustApply(t, f, 8, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: task.ID, Node: "n1", LastStatus: structs.StatusStopped,
		StopReason: "essential container app exited with code 2", At: 700}}})
	wantEvents(t, f, 0,
		"node.registered node pi-1 joined at 10.0.0.1",
		"service.applied service web created: 1 of web:1",
		"task.placed task 0000abcd of web placed on pi-1",
		"task.started task 0000abcd of web started on pi-1",
		"task.healthy container app of task 0000abcd of web is healthy",
		"task.unhealthy container app of task 0000abcd of web is unhealthy",
		"task.stopped task 0000abcd of web failed on pi-1: essential container app exited with code 2")
	evs := f.State().EventsAfter(0)
	if e := evs[3]; e.Index != 4 || e.Time != 400 || e.Service != "web" || e.Task != task.ID || e.Node != "n1" {
		t.Errorf("started event %+v: want index 4, time 400 and the task's service, id and node", e)
	}
	if got := kinds(f, 6); len(got) != 2 {
		t.Errorf("events after 6: %q, want the two of entries 7 and 8", got)
	}
}

func TestEventsOfNodesServicesAndDeployments(t *testing.T) {
	f := New(nil)
	td := structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img"}}}
	mustApply(t, f, 1, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1", Name: "pi-1"}, At: 1})
	mustApply(t, f, 2, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1", Name: "pi-1"}, At: 2})
	mustApply(t, f, 3, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1}, TaskDefinition: &td, At: 3})
	task := structs.Task{ID: "t-1", Service: "web", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusRunning}
	failure := &structs.PlacementFailure{Count: 1, Reasons: []structs.PlacementReason{{Kind: structs.ReasonNoNodes, Detail: "no nodes are ready"}}}
	mustApply(t, f, 4, CmdCommitPlan, CommitPlan{Place: []structs.Task{task}, Outcomes: []PlacementOutcome{{Service: "web", Failure: failure}}, At: 4})
	mustApply(t, f, 5, CmdCommitPlan, CommitPlan{Outcomes: []PlacementOutcome{{Service: "web", Failure: failure}}, At: 5})
	mustApply(t, f, 6, CmdCommitPlan, CommitPlan{Outcomes: []PlacementOutcome{{Service: "web"}}, At: 6})
	mustApply(t, f, 7, CmdScaleService, ScaleService{Name: "web", DesiredCount: 3, At: 7})
	mustApply(t, f, 8, CmdSetNodeStatus, SetNodeStatus{ID: "n1", Eligibility: structs.EligibilityIneligible, At: 8})
	mustApply(t, f, 9, CmdSetNodeStatus, SetNodeStatus{ID: "n1", Status: structs.NodeDown, Reason: "no gossip for 30s", At: 9})
	mustApply(t, f, 10, CmdSetNodeStatus, SetNodeStatus{ID: "n1", Status: structs.NodeReady, Eligibility: structs.EligibilityEligible, At: 10})
	td.ContainerDefinitions[0].Image = "img:2"
	mustApply(t, f, 11, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 3}, TaskDefinition: &td, At: 11})
	d := structs.Deployment{ID: "dep-1", Service: "web", From: "web:1", To: "web:2", State: structs.DeploymentInProgress, Desired: 3, UpdatedAt: 12}
	mustApply(t, f, 12, CmdUpdateDeployment, UpdateDeployment{Deployment: d})
	d.Healthy, d.Running, d.UpdatedAt = 1, 1, 13
	mustApply(t, f, 13, CmdUpdateDeployment, UpdateDeployment{Deployment: d})
	d.State, d.Reason, d.UpdatedAt = structs.DeploymentRolledBack, "3 new tasks failed", 14
	rb := structs.Deployment{ID: "dep-2", Service: "web", From: "web:2", To: "web:1", Rollback: true, State: structs.DeploymentInProgress, UpdatedAt: 14}
	mustApply(t, f, 14, CmdUpdateDeployment, UpdateDeployment{Deployment: d, Rollback: &rb})
	mustApply(t, f, 15, CmdDeleteService, DeleteService{Name: "web", Reason: "removed by the user", At: 15})
	wantEvents(t, f, 0,
		"node.registered node pi-1 joined",
		"service.applied service web created: 1 of web:1",
		"task.placed task t-1 of web placed on pi-1",
		"service.unplaceable service web: unable to place 1 task(s): no nodes are ready",
		"service.placeable service web: every task is placed again",
		"service.scaled service web scaled from 1 to 3",
		"node.drained node pi-1 is drained",
		"node.down node pi-1 is down: no gossip for 30s",
		"task.lost task t-1 of web lost with node pi-1: no gossip for 30s",
		"node.up node pi-1 is up again",
		"node.eligible node pi-1 takes tasks again",
		"service.applied service web updated: 3 of web:2",
		"deployment.started deployment dep-1 of web started: web:1 -> web:2",
		"deployment.progress deployment dep-1 of web: 1 of 3 new tasks healthy",
		"deployment.ended deployment dep-1 of web ROLLED_BACK: 3 new tasks failed",
		"deployment.started rollback dep-2 of web started: web:2 -> web:1",
		"service.removed service web removed: removed by the user")
	if e := f.State().EventsAfter(13)[0]; e.Deployment != "dep-1" || e.Service != "web" {
		t.Errorf("deployment event %+v: want its deployment and service", e)
	}
}

func TestEventsOfRefusedCommandsAreNotKept(t *testing.T) {
	f := New(nil)
	if err := applyErr(f, 1, CmdScaleService, ScaleService{Name: "nope", DesiredCount: 1}); err == nil {
		t.Fatal("scaling an unknown service was accepted")
	}
	if err := applyErr(f, 2, CmdRecordEvent, RecordEvent{Event: structs.Event{Kind: structs.EventTaskStarted, Message: "forged"}}); err == nil || !strings.Contains(err.Error(), "event.kind") {
		t.Errorf("err %v: want a refusal naming event.kind", err)
	}
	mustApply(t, f, 3, CmdRecordEvent|IgnoreUnknownFlag, RecordEvent{Event: structs.Event{Kind: structs.EventLeaderElected, Node: "n1", Time: 77, Message: "pi-1 leads"}})
	wantEvents(t, f, 0, "leader.elected pi-1 leads")
	if e := f.State().EventsAfter(0)[0]; e.Index != 3 || e.Time != 77 || e.Node != "n1" {
		t.Errorf("recorded event %+v: want index 3, time 77, node n1", e)
	}
}

func TestEventRingIsBoundedAndSnapshotted(t *testing.T) {
	f := New(nil)
	idx := uint64(0)
	for i := 0; i < keepEvents/100+3; i++ {
		idx++
		plan := CommitPlan{At: int64(idx)}
		for j := 0; j < 100; j++ {
			plan.Place = append(plan.Place, structs.Task{ID: fmt.Sprintf("t-%d-%d", i, j), Node: "n1", DesiredStatus: structs.StatusRunning})
		}
		mustApply(t, f, idx, CmdCommitPlan, plan)
	}
	view := f.State()
	evs := view.EventsAfter(0)
	if len(evs) != keepEvents {
		t.Fatalf("%d events kept, want %d", len(evs), keepEvents)
	}
	if last := evs[len(evs)-1]; last.Index != idx || last.Task != fmt.Sprintf("t-%d-99", idx-1) {
		t.Errorf("newest event %+v: want the last placement of entry %d", last, idx)
	}
	lost := view.EventsLostThrough()
	if lost == 0 || evs[0].Index < lost {
		t.Errorf("lost through %d with the oldest kept at %d: want a lost index below every kept one", lost, evs[0].Index)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s sink
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	g := New(nil)
	if err := g.Restore(io.NopCloser(&s)); err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(g, 0), kinds(f, 0); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("restored %d events, want the %d saved in order", len(got), len(want))
	}
	if g.State().EventsLostThrough() != lost {
		t.Errorf("restored lost-through %d, want %d", g.State().EventsLostThrough(), lost)
	}
	idx++
	mustApply(t, g, idx, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n2"}, At: 1})
	if evs := g.State().EventsAfter(idx - 1); len(evs) != 1 || evs[0].Kind != structs.EventNodeRegistered {
		t.Errorf("after a restore, a new entry's events %+v: want one node.registered", evs)
	}
}
