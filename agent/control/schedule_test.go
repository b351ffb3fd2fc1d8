package control

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// clock is a time a test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// schedulePlane is a control plane on c's state whose schedules fire by
// clk.
func schedulePlane(t *testing.T, c *fsmtest.Committer, clk *clock) *fakeRaft {
	r := newFakeRaft()
	cp := New(Config{ID: "n1", BootstrapExpect: 1, Voters: 3, DownAfter: time.Hour, PromoteAfter: time.Hour, RemoveAfter: time.Hour,
		Clock: clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, r, noMembers{}, c.FSM, leaderOnly{r, c})
	run(t, cp)
	return r
}

var t0 = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

func backupSchedule(concurrency string) fsm.ApplySchedule {
	return fsm.ApplySchedule{Schedule: structs.Schedule{Name: "backup", Expression: "rate(1 minute)", Concurrency: concurrency},
		TaskDefinition: &structs.TaskDefinition{Family: "backup", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img", Memory: 10}}},
		At:             t0.UnixMilli()}
}

// runTimes lists the minutes after t0 of the schedule's recorded runs.
func runTimes(st *fsm.State) []int64 {
	var out []int64
	for _, r := range st.Schedule("backup").Runs {
		out = append(out, (r.At-t0.UnixMilli())/time.Minute.Milliseconds())
	}
	return out
}

func waitRuns(t *testing.T, c *fsmtest.Committer, want ...int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("runs at minutes %v", want), func() bool { return slices.Equal(runTimes(c.FSM.State()), want) })
}

// A rate(1 minute) schedule runs once a minute, once cluster-wide: the
// leader that follows a failover neither runs again what the last one
// recorded nor skips the time that fell due while no leader led.
func TestScheduleRunsOnceAcrossFailover(t *testing.T) {
	c := fsmtest.New()
	clk := &clock{now: t0.Add(30 * time.Second)}
	a, b := schedulePlane(t, c, clk), schedulePlane(t, c, clk)
	mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, PortMin: 1, PortMax: 2}})
	mustCommit(t, c, fsm.CmdApplySchedule, backupSchedule(structs.ConcurrencyAllow))
	a.setLeading(true)

	clk.set(t0.Add(time.Minute + time.Second))
	waitRuns(t, c, 1)

	// b takes over at the same moment: minute 1 is recorded, so it
	// waits for minute 2.
	a.setLeading(false)
	b.setLeading(true)
	waitFor(t, "b's term", func() bool { return countOf(b.events(), "barrier") == 1 })
	// b's reconcile loop ticks once a second: over two ticks it must not
	// run minute 1 again.
	testutil.AssertFor(t, 2*time.Second, func() (bool, string) {
		got := runTimes(c.FSM.State())
		return slices.Equal(got, []int64{1}), fmt.Sprintf("runs at minutes %v after the failover", got)
	})
	clk.set(t0.Add(2*time.Minute + time.Second))
	waitRuns(t, c, 1, 2)

	// Minute 3 falls due while nobody leads; a, back, runs it.
	b.setLeading(false)
	clk.set(t0.Add(3*time.Minute + time.Second))
	a.setLeading(true)
	waitRuns(t, c, 1, 2, 3)

	st := c.FSM.State()
	tasks := map[string]bool{}
	for _, r := range st.Schedule("backup").Runs {
		if r.Task == "" || st.Task(r.Task) == nil || r.Skipped != "" {
			t.Fatalf("run %+v started no task", r)
		}
		tasks[r.Task] = true
	}
	if len(tasks) != 3 || len(st.OneOffTasks()) != 3 {
		t.Fatalf("%d run tasks, %d one-off tasks; want 3 of each", len(tasks), len(st.OneOffTasks()))
	}
}

// A leader away for several times runs only the newest of them.
func TestScheduleCatchesUpTheNewestMissedTime(t *testing.T) {
	c := fsmtest.New()
	clk := &clock{now: t0.Add(5*time.Minute + 30*time.Second)}
	r := schedulePlane(t, c, clk)
	mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, PortMin: 1, PortMax: 2}})
	mustCommit(t, c, fsm.CmdApplySchedule, backupSchedule(structs.ConcurrencyAllow))
	r.setLeading(true)
	waitRuns(t, c, 5)
}

// forbid skips a run while the last one's task is active and records the
// skip; replace stops that task and starts its own.
func TestScheduleConcurrency(t *testing.T) {
	for _, conc := range []string{structs.ConcurrencyForbid, structs.ConcurrencyReplace} {
		t.Run(conc, func(t *testing.T) {
			c := fsmtest.New()
			clk := &clock{now: t0.Add(time.Minute + time.Second)}
			r := schedulePlane(t, c, clk)
			mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, PortMin: 1, PortMax: 2}})
			mustCommit(t, c, fsm.CmdApplySchedule, backupSchedule(conc))
			r.setLeading(true)
			waitRuns(t, c, 1)
			first := c.FSM.State().Schedule("backup").Runs[0].Task
			clk.set(t0.Add(2*time.Minute + time.Second))
			waitRuns(t, c, 1, 2)
			st := c.FSM.State()
			second := st.Schedule("backup").Runs[1]
			switch conc {
			case structs.ConcurrencyForbid:
				if second.Task != "" || second.Skipped == "" || !st.Task(first).Active() {
					t.Fatalf("forbid: second run %+v, first task %+v", second, st.Task(first))
				}
			case structs.ConcurrencyReplace:
				if second.Task == "" || !slices.Equal(second.Replaced, []string{first}) || st.Task(first).DesiredStatus != structs.StatusStopped {
					t.Fatalf("replace: second run %+v, first task %+v", second, st.Task(first))
				}
			}
		})
	}
}

// Two planes that both believe they lead, as an old leader does until it
// hears of the new term, fire the same times: the state machine records
// each time once, so no run is doubled, and none is skipped.
func TestScheduleOverlappingLeadersRunOnce(t *testing.T) {
	c := fsmtest.New()
	clk := &clock{now: t0.Add(30 * time.Second)}
	a, b := schedulePlane(t, c, clk), schedulePlane(t, c, clk)
	mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, PortMin: 1, PortMax: 2}})
	mustCommit(t, c, fsm.CmdApplySchedule, backupSchedule(structs.ConcurrencyAllow))
	a.setLeading(true)
	b.setLeading(true)
	for m := int64(1); m <= 3; m++ {
		clk.set(t0.Add(time.Duration(m)*time.Minute + time.Second))
		want := make([]int64, 0, m)
		for i := int64(1); i <= m; i++ {
			want = append(want, i)
		}
		waitRuns(t, c, want...)
		// Both planes pass over the schedule at least once more.
		testutil.AssertFor(t, 1500*time.Millisecond, func() (bool, string) {
			got := runTimes(c.FSM.State())
			return slices.Equal(got, want), fmt.Sprintf("runs at minutes %v, want %v", got, want)
		})
	}
	if n := len(c.FSM.State().OneOffTasks()); n != 3 {
		t.Errorf("%d one-off tasks, want one per run", n)
	}
}
