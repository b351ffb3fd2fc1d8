package fsm

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

type sink struct {
	bytes.Buffer
	cancelled bool
}

func (s *sink) ID() string    { return "test" }
func (s *sink) Cancel() error { s.cancelled = true; return nil }
func (s *sink) Close() error  { return nil }

func apply(t *testing.T, f *FSM, idx uint64, ct CommandType, body any) any {
	t.Helper()
	b, err := Encode(ct, body)
	if err != nil {
		t.Fatal(err)
	}
	return f.ApplyCommand(idx, b)
}

func mustApply(t *testing.T, f *FSM, idx uint64, ct CommandType, body any) {
	t.Helper()
	if err, ok := apply(t, f, idx, ct, body).(error); ok {
		t.Fatalf("%s at %d: %v", ct, idx, err)
	}
}

func TestApplyReturnsTaskDefinitionRef(t *testing.T) {
	f := New(nil)
	if got := apply(t, f, 1, CmdRegisterTaskDefinition, RegisterTaskDefinition{TaskDefinition: *webDef("a:1")}); got != "web:1" {
		t.Fatalf("register: %v", got)
	}
	if got := apply(t, f, 2, CmdRegisterTaskDefinition, RegisterTaskDefinition{TaskDefinition: *webDef("a:1")}); got != "web:1" {
		t.Fatalf("identical register: %v", got)
	}
	if got := apply(t, f, 3, CmdApplyService, ApplyService{Service: structs.Service{Name: "web"}, TaskDefinition: webDef("a:2")}); got != "web:2" {
		t.Fatalf("apply service: %v", got)
	}
}

func webDef(image string) *structs.TaskDefinition {
	return &structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: image, CPU: 64, Memory: 32}}}
}

func TestApplyServiceRegistersRevisions(t *testing.T) {
	f := New(nil)
	mustApply(t, f, 1, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 2}, TaskDefinition: webDef("a:1"), At: 10})
	s := f.State()
	if got := s.Service("web"); got == nil || got.TaskDefinition != "web:1" || got.CreatedAt != 10 {
		t.Fatalf("service after first apply: %+v", got)
	}
	// The same definition again reuses revision 1.
	mustApply(t, f, 2, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 3}, TaskDefinition: webDef("a:1"), At: 20})
	if got := f.State().Service("web"); got.TaskDefinition != "web:1" || got.DesiredCount != 3 || got.CreatedAt != 10 || got.UpdatedAt != 20 {
		t.Fatalf("service after identical apply: %+v", got)
	}
	// A changed definition becomes revision 2.
	mustApply(t, f, 3, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 3}, TaskDefinition: webDef("a:2"), At: 30})
	s = f.State()
	if got := s.Service("web"); got.TaskDefinition != "web:2" {
		t.Fatalf("want web:2, got %s", got.TaskDefinition)
	}
	if l := s.LatestTaskDefinition("web"); l == nil || l.Revision != 2 || l.ContainerDefinitions[0].Image != "a:2" {
		t.Fatalf("latest: %+v", l)
	}
	if len(s.TaskDefinitions()) != 2 {
		t.Fatalf("want 2 revisions, got %d", len(s.TaskDefinitions()))
	}
	if s.Index() != 3 {
		t.Fatalf("index %d", s.Index())
	}
}

func TestApplyServiceUnknownDefinitionChangesNothing(t *testing.T) {
	f := New(nil)
	res := apply(t, f, 1, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", TaskDefinition: "web:7"}})
	if err, ok := res.(error); !ok || !errors.Is(err, structs.ErrNotFound) {
		t.Fatalf("want not found, got %v", res)
	}
	if f.State().Service("web") != nil {
		t.Fatal("service was written although the command was refused")
	}
}

// A service may name a registered definition by family alone: it gets the
// newest revision at the moment it is applied, and an unknown family is
// refused.
func TestApplyServiceByFamily(t *testing.T) {
	f := New(nil)
	mustApply(t, f, 1, CmdRegisterTaskDefinition, RegisterTaskDefinition{TaskDefinition: *webDef("a:1")})
	mustApply(t, f, 2, CmdRegisterTaskDefinition, RegisterTaskDefinition{TaskDefinition: *webDef("a:2")})
	if got := apply(t, f, 3, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1, TaskDefinition: "web"}}); got != "web:2" {
		t.Fatalf("by family: %v", got)
	}
	if got := f.State().Service("web").TaskDefinition; got != "web:2" {
		t.Fatalf("service runs %s, want web:2", got)
	}
	if got := apply(t, f, 4, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1, TaskDefinition: "web:1"}}); got != "web:1" {
		t.Fatalf("by revision: %v", got)
	}
	res := apply(t, f, 5, CmdApplyService, ApplyService{Service: structs.Service{Name: "db", TaskDefinition: "db"}})
	if err, ok := res.(error); !ok || !errors.Is(err, structs.ErrNotFound) || f.State().Service("db") != nil {
		t.Fatalf("unknown family: %v", res)
	}
}

func TestTaskLifecycle(t *testing.T) {
	f := New(nil)
	mustApply(t, f, 1, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1", Name: "one", CPU: 1024, MemoryMiB: 1024}, At: 1})
	mustApply(t, f, 2, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 2}, TaskDefinition: webDef("a:1")})
	mustApply(t, f, 3, CmdCommitPlan, CommitPlan{At: 5, Place: []structs.Task{
		{ID: "t1", Service: "web", TaskDefinition: "web:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending},
		{ID: "t2", Service: "web", TaskDefinition: "web:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending},
	}})
	s := f.State()
	if n := len(s.TasksByNode("n1")); n != 2 {
		t.Fatalf("tasks on n1: %d", n)
	}
	if n := len(s.TasksByService("web")); n != 2 {
		t.Fatalf("tasks of web: %d", n)
	}
	mustApply(t, f, 4, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{
		{ID: "t1", Node: "n1", LastStatus: structs.StatusRunning, At: 7},
		{ID: "t2", Node: "other", LastStatus: structs.StatusRunning, At: 7}, // stale: wrong node
	}})
	s = f.State()
	if t1 := s.Task("t1"); t1.LastStatus != structs.StatusRunning || t1.StartedAt != 7 || t1.CreatedAt != 5 {
		t.Fatalf("t1: %+v", t1)
	}
	if t2 := s.Task("t2"); t2.LastStatus != structs.StatusPending {
		t.Fatalf("report from another node was applied: %+v", t2)
	}
	// A placement with an existing id never overwrites the task.
	mustApply(t, f, 5, CmdCommitPlan, CommitPlan{Place: []structs.Task{{ID: "t1", Node: "n9", LastStatus: structs.StatusPending}}, Stop: []TaskStop{{ID: "t2", Reason: "scaled down"}}})
	s = f.State()
	if s.Task("t1").Node != "n1" {
		t.Fatal("placement overwrote an existing task")
	}
	if t2 := s.Task("t2"); t2.DesiredStatus != structs.StatusStopped || t2.StopReason != "scaled down" {
		t.Fatalf("t2: %+v", t2)
	}
	mustApply(t, f, 6, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t2", Node: "n1", LastStatus: structs.StatusStopped, At: 9}}})
	// Stopped is final: a late RUNNING report is ignored.
	mustApply(t, f, 7, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t2", Node: "n1", LastStatus: structs.StatusRunning, At: 10}}})
	if t2 := f.State().Task("t2"); t2.LastStatus != structs.StatusStopped || t2.StoppedAt != 9 {
		t.Fatalf("t2 after late report: %+v", t2)
	}
	// Only stopped tasks are garbage collected.
	mustApply(t, f, 8, CmdDeleteTasks, DeleteTasks{IDs: []string{"t1", "t2"}})
	s = f.State()
	if s.Task("t2") != nil || s.Task("t1") == nil {
		t.Fatalf("delete: t1=%v t2=%v", s.Task("t1"), s.Task("t2"))
	}
	mustApply(t, f, 9, CmdDeleteService, DeleteService{Name: "web", Reason: "service deleted"})
	s = f.State()
	if s.Service("web") != nil || s.Task("t1").DesiredStatus != structs.StatusStopped {
		t.Fatalf("delete service left %+v %+v", s.Service("web"), s.Task("t1"))
	}
}

func TestWatchFiresOnApply(t *testing.T) {
	f := New(nil)
	ch := f.Watch()
	mustApply(t, f, 1, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1"}})
	select {
	case <-ch:
	default:
		t.Fatal("watch channel not closed after apply")
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	f := New(nil)
	mustApply(t, f, 1, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1", Name: "one", Attributes: map[string]string{"zone": "a"}}})
	mustApply(t, f, 2, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1}, TaskDefinition: webDef("a:1")})
	mustApply(t, f, 3, CmdCommitPlan, CommitPlan{Place: []structs.Task{{ID: "t1", Service: "web", TaskDefinition: "web:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending, HostPorts: []int{20000}}}})
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s sink
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	want := s.String()
	g := New(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(s.Bytes()))); err != nil {
		t.Fatal(err)
	}
	snap2, _ := g.Snapshot()
	var s2 sink
	if err := snap2.Persist(&s2); err != nil {
		t.Fatal(err)
	}
	if s2.String() != want {
		t.Fatalf("round trip differs:\n%s\n%s", want, s2.String())
	}
	if g.State().Index() != 3 || g.State().Node("n1").Attributes["zone"] != "a" || len(g.State().TasksByNode("n1")) != 1 {
		t.Fatal("restored state lacks indexed data")
	}
}

func TestNodeDownLosesTasks(t *testing.T) {
	f := New(nil)
	mustApply(t, f, 1, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1"}})
	mustApply(t, f, 2, CmdCommitPlan, CommitPlan{Place: []structs.Task{
		{ID: "t1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusRunning},
		{ID: "t2", Node: "n1", DesiredStatus: structs.StatusStopped, LastStatus: structs.StatusStopped},
	}})
	mustApply(t, f, 3, CmdSetNodeStatus, SetNodeStatus{ID: "n1", Status: structs.NodeDown, Reason: "node n1 is down", At: 9})
	s := f.State()
	if n := s.Node("n1"); n.Status != structs.NodeDown || n.Eligibility != structs.EligibilityEligible {
		t.Fatalf("node %+v", n)
	}
	if t1 := s.Task("t1"); t1.LastStatus != structs.StatusLost || t1.DesiredStatus != structs.StatusStopped || t1.StopReason != "node n1 is down" || t1.Active() {
		t.Fatalf("t1 %+v", t1)
	}
	if t2 := s.Task("t2"); t2.LastStatus != structs.StatusStopped {
		t.Fatalf("a stopped task was lost: %+v", t2)
	}
	// A report from the returning node does not revive a lost task.
	mustApply(t, f, 4, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t1", Node: "n1", LastStatus: structs.StatusRunning}}})
	if f.State().Task("t1").LastStatus != structs.StatusLost {
		t.Fatal("lost task revived")
	}
	mustApply(t, f, 5, CmdSetNodeStatus, SetNodeStatus{ID: "n1", Status: structs.NodeReady, Eligibility: structs.EligibilityIneligible})
	if n := f.State().Node("n1"); n.Status != structs.NodeReady || n.Eligibility != structs.EligibilityIneligible {
		t.Fatalf("node %+v", n)
	}
	if _, ok := apply(t, f, 6, CmdSetNodeStatus, SetNodeStatus{ID: "n1", Status: "sleepy"}).(error); !ok {
		t.Fatal("bad status accepted")
	}
}
