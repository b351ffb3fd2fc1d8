package fsm

import (
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// statuses are every task status, and the empty one of a placement that
// named none.
var statuses = []string{"", structs.StatusPending, structs.StatusRunning, structs.StatusStopped, structs.StatusLost}

// wantTransitions spells the table out cell by cell, so that a change to
// reportTransitions has to be made here too, on purpose.
var wantTransitions = map[[2]string]effect{
	{"", structs.StatusPending}: applied, {"", structs.StatusRunning}: applied, {"", structs.StatusStopped}: applied,

	{structs.StatusPending, structs.StatusPending}: applied,
	{structs.StatusPending, structs.StatusRunning}: applied,
	{structs.StatusPending, structs.StatusStopped}: applied,

	{structs.StatusRunning, structs.StatusPending}: applied,
	{structs.StatusRunning, structs.StatusRunning}: applied,
	{structs.StatusRunning, structs.StatusStopped}: applied,

	{structs.StatusStopped, structs.StatusStopped}: final,
	{structs.StatusLost, structs.StatusStopped}:    final,
}

// placeWith places task t on node n1 and brings it to status from the way
// the cluster does: through the node's reports, and LOST through the
// node being marked down. The empty status is a placement that named
// none.
func placeWith(t *testing.T, from string) *FSM {
	t.Helper()
	placed := structs.StatusPending
	if from == "" {
		placed = ""
	}
	f := New(nil)
	mustApply(t, f, 1, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1", PortMin: 1, PortMax: 2}})
	mustApply(t, f, 2, CmdCommitPlan, CommitPlan{Place: []structs.Task{{ID: "t", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: placed}}})
	switch from {
	case structs.StatusRunning, structs.StatusStopped:
		mustApply(t, f, 3, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t", Node: "n1", LastStatus: from, StopReason: "first", At: 3}}})
	case structs.StatusLost:
		mustApply(t, f, 3, CmdSetNodeStatus, SetNodeStatus{ID: "n1", Status: structs.NodeDown, Reason: "node down", At: 3})
	}
	if got := f.State().Task("t").LastStatus; got != from {
		t.Fatalf("set-up: task is %q, want %q", got, from)
	}
	return f
}

// TestReportTransitions goes through every cell of the table: a report
// the table applies changes the task, a final one changes nothing and is
// accepted, an illegal one changes nothing and is refused by the state's
// Check with an error naming the task and both statuses.
func TestReportTransitions(t *testing.T) {
	for _, from := range statuses {
		for _, to := range append(statuses[1:], "DONE") {
			want := wantTransitions[[2]string{from, to}]
			if got := reportTransitions[from][to]; got != want {
				t.Errorf("%q to %q: table says %d, want %d", from, to, got, want)
			}
			f := placeWith(t, from)
			before := *f.State().Task("t")
			report := UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t", Node: "n1", LastStatus: to, StopReason: "second", At: 9}}}
			cmd, err := Encode(CmdUpdateTaskStatus, report)
			if err != nil {
				t.Fatal(err)
			}
			err = f.State().Check(cmd)
			if (err == nil) != (want != illegal) {
				t.Errorf("%q to %q: state check %v", from, to, err)
			}
			if err != nil {
				shown := from
				if from == "" {
					shown = "no status"
				}
				if msg := err.Error(); !strings.Contains(msg, "task t") || !strings.Contains(msg, to) ||
					to != structs.StatusLost && to != "DONE" && !strings.Contains(msg, shown+" to "+to) {
					t.Errorf("%q to %q: error %q should name the task and both statuses", from, to, msg)
				}
			}
			mustApply(t, f, 10, CmdUpdateTaskStatus, report)
			after := f.State().Task("t")
			switch {
			case want == applied && (after.LastStatus != to || after.StoppedAt == 0 && to == structs.StatusStopped):
				t.Errorf("%q to %q: not applied: %+v", from, to, after)
			case want != applied && (after.LastStatus != before.LastStatus || after.StopReason != before.StopReason || after.StoppedAt != before.StoppedAt):
				t.Errorf("%q to %q: changed the task: %+v, was %+v", from, to, after, before)
			}
		}
	}
}

// TestIllegalReportDoesNotStopTheBatch applies a batch mixing legal and
// illegal reports: the legal ones apply, the illegal ones are skipped,
// and two replicas that apply the same entries agree.
func TestIllegalReportDoesNotStopTheBatch(t *testing.T) {
	replicas := []*FSM{New(nil), New(nil)}
	for _, f := range replicas {
		mustApply(t, f, 1, CmdCommitPlan, CommitPlan{Place: []structs.Task{
			{ID: "stopped", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending},
			{ID: "new", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending},
			{ID: "running", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending},
		}})
		mustApply(t, f, 2, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{
			{ID: "stopped", Node: "n1", LastStatus: structs.StatusStopped, At: 2},
			{ID: "running", Node: "n1", LastStatus: structs.StatusRunning, At: 2},
		}})
		mustApply(t, f, 3, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{
			{ID: "stopped", Node: "n1", LastStatus: structs.StatusRunning, At: 3},
			{ID: "new", Node: "n1", LastStatus: structs.StatusRunning, At: 3},
			{ID: "running", Node: "n1", LastStatus: structs.StatusLost, At: 3},
			{ID: "new", Node: "n1", LastStatus: structs.StatusStopped, At: 3},
			{ID: "new", Node: "n1", LastStatus: structs.StatusRunning, At: 3},
		}})
	}
	st := replicas[0].State()
	for id, want := range map[string]string{"stopped": structs.StatusStopped, "new": structs.StatusStopped, "running": structs.StatusRunning} {
		if got := st.Task(id).LastStatus; got != want {
			t.Errorf("task %s is %s, want %s", id, got, want)
		}
	}
	if a, b := snapshotJSON(t, replicas[0]), snapshotJSON(t, replicas[1]); a != b {
		t.Fatalf("replicas differ:\n%s\n%s", a, b)
	}
}

// TestCheckFollowsTheBatch: a batch that contradicts itself is refused
// without the state, and with it a report is checked against what the
// reports before it in the batch made of the task.
func TestCheckFollowsTheBatch(t *testing.T) {
	revive, err := Encode(CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{
		{ID: "a", Node: "n1", LastStatus: structs.StatusRunning},
		{ID: "t", Node: "n1", LastStatus: structs.StatusStopped},
		{ID: "t", Node: "n1", LastStatus: structs.StatusPending},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(revive); err == nil || !strings.Contains(err.Error(), "updates[2]: task t: STOPPED to PENDING: STOPPED is final") {
		t.Fatalf("a batch that stops and revives a task: %v", err)
	}
	f := placeWith(t, structs.StatusRunning)
	if err := f.State().Check(revive); err == nil || !strings.Contains(err.Error(), "updates[2]: task t: STOPPED to PENDING") {
		t.Fatalf("against the state: %v", err)
	}
	// A report for a task the state does not hold (collected already)
	// is stale, not illegal: Apply skips it.
	gone, _ := Encode(CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "gone", Node: "n1", LastStatus: structs.StatusRunning}}})
	if err := f.State().Check(gone); err != nil {
		t.Fatalf("a report of a task the state does not hold: %v", err)
	}
	// A report from another node than the task's is not checked against
	// the task; Apply skips it as stale.
	other, _ := Encode(CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t", Node: "n2", LastStatus: structs.StatusPending}}})
	stopped := placeWith(t, structs.StatusStopped)
	if err := stopped.State().Check(other); err != nil {
		t.Fatalf("a report from another node: %v", err)
	}
}
