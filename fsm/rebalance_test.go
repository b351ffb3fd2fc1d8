package fsm

import (
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// moveState holds web:1 with two tasks wanted on n1: t1 running, t2
// pending.
func moveState(t *testing.T) *FSM {
	t.Helper()
	f := New(nil)
	td := structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img"}}}
	mustApply(t, f, 1, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 2}, TaskDefinition: &td})
	mustApply(t, f, 2, CmdCommitPlan, CommitPlan{Place: []structs.Task{
		{ID: "t1", Node: "n1", Service: "web", TaskDefinition: "web:1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending},
		{ID: "t2", Node: "n1", Service: "web", TaskDefinition: "web:1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}}})
	mustApply(t, f, 3, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t1", Node: "n1", LastStatus: structs.StatusRunning, At: 3}}})
	return f
}

func replacement(id, node, replaces string) MoveTask {
	return MoveTask{Task: structs.Task{ID: id, Node: node, Service: "web", TaskDefinition: "web:1", Replaces: replaces,
		DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}, At: 10}
}

func TestMoveTask(t *testing.T) {
	t.Run("places the replacement beside the task it replaces", func(t *testing.T) {
		f := moveState(t)
		mustApply(t, f, 4, CmdMoveTask, replacement("r1", "n2", "t1"))
		st := f.State()
		r, o := structs.MoveOf(st.TasksByService("web"))
		if r == nil || r.ID != "r1" || r.CreatedAt != 10 || o.ID != "t1" || o.DesiredStatus != structs.StatusRunning {
			t.Fatalf("move %+v of %+v: want r1, created at 10, replacing t1, which stays wanted", r, o)
		}
	})
	t.Run("one move per service at a time", func(t *testing.T) {
		f := moveState(t)
		mustApply(t, f, 4, CmdMoveTask, replacement("r1", "n2", "t1"))
		err := applyErr(f, 5, CmdMoveTask, replacement("r2", "n2", "t2"))
		if err == nil || !strings.Contains(err.Error(), "already moving task t1") {
			t.Errorf("err %v: want a refusal naming the move under way", err)
		}
		if f.State().Task("r2") != nil {
			t.Error("the refused move placed its task")
		}
		// Once the replaced task is asked to stop, the move is over and
		// the next may start.
		mustApply(t, f, 6, CmdCommitPlan, CommitPlan{Stop: []TaskStop{{ID: "t1", Reason: "rebalanced"}}})
		mustApply(t, f, 7, CmdMoveTask, replacement("r2", "n2", "t2"))
	})
	for _, c := range []struct {
		name string
		body MoveTask
		want string
	}{
		{"no replaced task", replacement("r1", "n2", ""), "task.replaces: required"},
		{"unknown replaced task", replacement("r1", "n2", "t9"), "t9 of service web"},
		{"same node", replacement("r1", "n1", "t1"), "already runs on node n1"},
		{"existing id", replacement("t2", "n2", "t1"), "task t2 already exists"},
		{"other revision", func() MoveTask { m := replacement("r1", "n2", "t1"); m.Task.TaskDefinition = "web:2"; return m }(), "service web runs web:1"},
		{"not pending", func() MoveTask {
			m := replacement("r1", "n2", "t1")
			m.Task.LastStatus = structs.StatusRunning
			return m
		}(), "a new task"},
	} {
		t.Run("refuses "+c.name, func(t *testing.T) {
			f := moveState(t)
			before := len(f.State().Tasks())
			if err := applyErr(f, 4, CmdMoveTask, c.body); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v: want one containing %q", err, c.want)
			}
			if n := len(f.State().Tasks()); n != before {
				t.Errorf("%d tasks after a refused move, %d before", n, before)
			}
		})
	}
	t.Run("refuses to move a task that stops", func(t *testing.T) {
		f := moveState(t)
		mustApply(t, f, 4, CmdCommitPlan, CommitPlan{Stop: []TaskStop{{ID: "t1", Reason: "scaled down"}}})
		if err := applyErr(f, 5, CmdMoveTask, replacement("r1", "n2", "t1")); err == nil || !strings.Contains(err.Error(), "no longer wanted") {
			t.Errorf("err %v: want a refusal saying t1 is no longer wanted", err)
		}
	})
}
