package fsm

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

func TestUnknownCommandStopsTheReplica(t *testing.T) {
	f := New(nil)
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
	f := New(nil)
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
	f := New(nil)
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
	f := New(nil)
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

// TestCorruptEntryIsSkipped applies the poison body of a forged request:
// every replica skips it the same way instead of stopping.
func TestCorruptEntryIsSkipped(t *testing.T) {
	for _, data := range [][]byte{append([]byte{byte(CmdRegisterNode)}, "not json"...), {}, {byte(CmdCommitPlan)}} {
		f := New(nil)
		mustApply(t, f, 1, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1"}})
		res := f.ApplyCommand(2, data)
		if err, ok := res.(error); !ok || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%q: result %v", data, res)
		}
		if f.State().Index() != 2 || len(f.State().Nodes()) != 1 {
			t.Fatalf("%q: index %d, %d nodes", data, f.State().Index(), len(f.State().Nodes()))
		}
	}
}

func TestCheck(t *testing.T) {
	enc := func(ct CommandType, body any) []byte {
		b, err := Encode(ct, body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, tc := range map[string]struct {
		cmd  []byte
		want string
	}{
		"empty":            {nil, "empty command"},
		"unknown type":     {[]byte{99, '{', '}'}, "unknown command type 99"},
		"not json":         {append([]byte{byte(CmdUpdateTaskStatus)}, "\x00"...), "corrupt"},
		"no node id":       {enc(CmdRegisterNode, RegisterNode{}), "node.id: required"},
		"bad port range":   {enc(CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n", PortMin: 9, PortMax: 3}}), "not a port range"},
		"forged LOST":      {enc(CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t", Node: "n", LastStatus: structs.StatusLost}}}), "not a status a node reports"},
		"report sans node": {enc(CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t", LastStatus: structs.StatusRunning}}}), "required"},
		"good":             {enc(CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t", Node: "n", LastStatus: structs.StatusRunning}}}), ""},
	} {
		err := Check(tc.cmd)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// TestNodeCannotReportLost: a forged LOST that slipped past the checks
// still changes nothing, so the service keeps counting what really runs.
func TestNodeCannotReportLost(t *testing.T) {
	f := New(nil)
	mustApply(t, f, 1, CmdCommitPlan, CommitPlan{Place: []structs.Task{{ID: "t1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusRunning}}})
	mustApply(t, f, 2, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t1", Node: "n1", LastStatus: structs.StatusLost}}})
	if got := f.State().Task("t1"); got.LastStatus != structs.StatusRunning {
		t.Fatalf("task after a forged LOST: %+v", got)
	}
}

func TestACLTokens(t *testing.T) {
	f := New(nil)
	hash := strings.Repeat("ab", 32)
	mustApply(t, f, 1, CmdUpsertACLToken, UpsertACLToken{Token: structs.ACLToken{AccessorID: "a1", Name: "ci", Policy: structs.PolicyReadOnly, SecretHash: hash}})
	if got := f.State().ACLTokenBySecretHash(hash); got == nil || got.AccessorID != "a1" || got.Policy != structs.PolicyReadOnly {
		t.Fatalf("by hash: %+v", got)
	}
	if err, ok := apply(t, f, 2, CmdUpsertACLToken, UpsertACLToken{Token: structs.ACLToken{AccessorID: "a2", Policy: structs.PolicyManagement, SecretHash: hash}}).(error); !ok || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("a second token with the same secret: %v", err)
	}
	if _, ok := apply(t, f, 3, CmdUpsertACLToken, UpsertACLToken{Token: structs.ACLToken{AccessorID: "a3", Policy: "root", SecretHash: hash}}).(error); !ok {
		t.Fatal("an unknown policy was stored")
	}
	g := New(nil)
	snap, _ := f.Snapshot()
	var s sink
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	if err := g.Restore(io.NopCloser(bytes.NewReader(s.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if len(g.State().ACLTokens()) != 1 || strings.Contains(s.String(), "secret\":\"") {
		t.Fatalf("restored tokens %+v", g.State().ACLTokens())
	}
	mustApply(t, f, 4, CmdDeleteACLToken, DeleteACLToken{AccessorID: "a1"})
	if f.State().ACLTokenBySecretHash(hash) != nil {
		t.Fatal("a deleted token still resolves")
	}
	if err, ok := apply(t, f, 5, CmdDeleteACLToken, DeleteACLToken{AccessorID: "a1"}).(error); !ok || !errors.Is(err, structs.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
}
