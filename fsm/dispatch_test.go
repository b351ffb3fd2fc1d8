package fsm

import (
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

func TestUnknownCommandStopsTheReplica(t *testing.T) {
	f := New()
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "unknown command type 99") || !strings.Contains(msg, "upgrade") {
			t.Fatalf("panic %q", msg)
		}
	}()
	f.ApplyCommand(1, []byte{99, '{', '}'})
	t.Fatal("an unknown command was applied")
}

func TestIgnorableUnknownCommandIsSkipped(t *testing.T) {
	f := New()
	if res := f.ApplyCommand(7, []byte{byte(99 | IgnoreUnknownFlag), '{', '}'}); res != nil {
		t.Fatalf("result %v", res)
	}
	if f.State().Index() != 7 {
		t.Fatalf("index %d after a skipped entry", f.State().Index())
	}
	// The flag on a known type does not change what the command does.
	mustApply(t, f, 8, CmdRegisterNode|IgnoreUnknownFlag, RegisterNode{Node: structs.Node{ID: "n1"}})
	if f.State().Node("n1") == nil {
		t.Fatal("a known command with the ignorable flag was not applied")
	}
}

func TestCommandTypeNames(t *testing.T) {
	for ct := range handlers {
		if ct.String() == "" || strings.HasPrefix(ct.String(), "CommandType(") {
			t.Errorf("type %d has no name", ct)
		}
	}
	if got := CommandType(99).String(); got != "CommandType(99)" {
		t.Errorf("unknown type prints %q", got)
	}
}

func TestPlacementOutcomeIsStoredAndCleared(t *testing.T) {
	f := New()
	mustApply(t, f, 1, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 3}, TaskDefinition: webDef("a"), At: 1})
	failure := &structs.PlacementFailure{Count: 1, TaskDefinition: "web:1", Nodes: 2,
		Reasons: []structs.PlacementReason{{Kind: structs.ReasonMemory, Nodes: 2, Need: 32, MostFree: 16}}}
	mustApply(t, f, 2, CmdCommitPlan, CommitPlan{Outcomes: []PlacementOutcome{{Service: "web", Failure: failure}, {Service: "gone"}}})
	got := f.State().Service("web").PlacementFailure
	if got == nil || got.Reasons[0].Kind != structs.ReasonMemory || !strings.Contains(got.String(), "2 nodes lack memory (need 32 MiB, most free 16 MiB)") {
		t.Fatalf("stored failure %+v", got)
	}
	// A user's apply or scale keeps the leader's verdict; only a plan
	// changes it.
	mustApply(t, f, 3, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 4}, TaskDefinition: webDef("a"), At: 2})
	mustApply(t, f, 4, CmdScaleService, ScaleService{Name: "web", DesiredCount: 5, At: 3})
	if f.State().Service("web").PlacementFailure == nil {
		t.Fatal("apply or scale cleared the placement failure")
	}
	mustApply(t, f, 5, CmdCommitPlan, CommitPlan{Outcomes: []PlacementOutcome{{Service: "web"}}})
	if got := f.State().Service("web").PlacementFailure; got != nil {
		t.Fatalf("failure not cleared: %+v", got)
	}
}

func TestScaleServiceChangesOnlyTheCount(t *testing.T) {
	f := New()
	mustApply(t, f, 1, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 3,
		PlacementStrategy: []structs.PlacementStrategy{{Type: "spread"}}}, TaskDefinition: webDef("a"), At: 1})
	mustApply(t, f, 2, CmdScaleService, ScaleService{Name: "web", DesiredCount: 7, At: 5})
	s := f.State().Service("web")
	if s.DesiredCount != 7 || s.UpdatedAt != 5 || s.CreatedAt != 1 || len(s.PlacementStrategy) != 1 || s.TaskDefinition != "web:1" {
		t.Fatalf("after scale: %+v", s)
	}
	if err, ok := apply(t, f, 3, CmdScaleService, ScaleService{Name: "nope", DesiredCount: 1}).(error); !ok || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("scaling an unknown service: %v", err)
	}
	if _, ok := apply(t, f, 4, CmdScaleService, ScaleService{Name: "web", DesiredCount: -1}).(error); !ok {
		t.Fatal("a negative count was accepted")
	}
}
