package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

func nightly() ApplySchedule {
	return ApplySchedule{Schedule: structs.Schedule{Name: "backup", Expression: "rate(1 minute)", Concurrency: structs.ConcurrencyAllow},
		TaskDefinition: webDef("a"), At: 5}
}

// A schedule's runs are recorded in time order only: a run at or before
// the newest recorded time is refused and changes nothing, its task
// included, and only the last MaxScheduleRuns are kept.
func TestScheduleRunsAreRecordedOnce(t *testing.T) {
	f := New(nil)
	mustApply(t, f, 1, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1", CPU: 1000, MemoryMiB: 1000}})
	if got := apply(t, f, 2, CmdApplySchedule, nightly()); got != "web:1" {
		t.Fatalf("apply: %v", got)
	}
	run := func(index uint64, at int64) any {
		id := fmt.Sprintf("task-%d", index)
		return apply(t, f, index, CmdRecordScheduleRun, RecordScheduleRun{Name: "backup", Run: structs.ScheduleRun{At: at, Task: id},
			Place: []structs.Task{{ID: id, TaskDefinition: "web:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}}})
	}
	if err, _ := run(3, 60_000).(error); err != nil {
		t.Fatal(err)
	}
	for _, at := range []int64{60_000, 30_000} {
		if err, _ := run(4, at).(error); !errors.Is(err, ErrRunRecorded) {
			t.Fatalf("run at %d again: %v", at, err)
		}
	}
	if f.State().Task("task-4") != nil {
		t.Fatal("a refused run placed its task")
	}
	for i := uint64(5); i < 5+structs.MaxScheduleRuns; i++ {
		if err, _ := run(i, int64(i)*60_000).(error); err != nil {
			t.Fatal(err)
		}
	}
	s := f.State().Schedule("backup")
	if len(s.Runs) != structs.MaxScheduleRuns || s.Runs[0].At != 5*60_000 || s.LastRun() != int64(4+structs.MaxScheduleRuns)*60_000 {
		t.Fatalf("runs %+v", s.Runs)
	}
	// Applying the schedule again keeps its runs.
	mustApply(t, f, 20, CmdApplySchedule, nightly())
	if got := f.State().Schedule("backup"); len(got.Runs) != structs.MaxScheduleRuns || got.CreatedAt != 5 {
		t.Fatalf("after a second apply: %+v", got)
	}
	mustApply(t, f, 21, CmdDeleteSchedule, DeleteSchedule{Name: "backup"})
	if f.State().Schedule("backup") != nil {
		t.Fatal("schedule not deleted")
	}
}

func TestScheduleSurvivesSnapshot(t *testing.T) {
	f := New(nil)
	mustApply(t, f, 1, CmdApplySchedule, nightly())
	mustApply(t, f, 2, CmdRecordScheduleRun, RecordScheduleRun{Name: "backup", Run: structs.ScheduleRun{At: 60_000, Skipped: "forbid"}})
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var out sink
	if err := snap.Persist(&out); err != nil {
		t.Fatal(err)
	}
	g := New(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(out.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if s := g.State().Schedule("backup"); s == nil || s.LastRun() != 60_000 || s.Runs[0].Skipped != "forbid" {
		t.Fatalf("after restore: %+v", s)
	}
}
