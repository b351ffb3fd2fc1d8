package test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
)

// testClock is a time every agent of a test cluster fires schedules by,
// moved by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// runMinutes lists the minutes after the schedule's creation of its
// recorded runs in one member's replica, and whether each started a task
// that replica holds.
func runMinutes(m *testcluster.Member) ([]int64, bool) {
	st := m.Agent().State()
	s := st.Schedule("backup")
	if s == nil {
		return nil, false
	}
	var out []int64
	tasks := true
	for _, r := range s.Runs {
		out = append(out, (r.At-s.CreatedAt)/time.Minute.Milliseconds())
		tasks = tasks && r.Task != "" && st.Task(r.Task) != nil
	}
	return out, tasks
}

// A rate(1 minute) schedule on three agents runs once a minute through the
// leaders' own loops, by a clock the test moves: a leader killed as a
// minute falls due leaves that minute run once, by it or by the next
// leader, never twice and never skipped, and the next leader goes on.
func TestClusterScheduleAcrossFailover(t *testing.T) {
	clk := &testClock{now: time.Now()}
	c := testcluster.NewTuned(t, 3, 3, func(cfg *agent.Config) { cfg.Clock = clk.Now })
	file := []byte(`{"service":"backup","schedule":"rate(1 minute)",
	  "taskDefinition":{"family":"backup","containerDefinitions":[{"name":"app","image":"img","memory":16}]}}`)
	if _, err := c.Leader().Client().ApplySchedule(context.Background(), "backup", file); err != nil {
		t.Fatal(err)
	}
	created := time.UnixMilli(c.Leader().Agent().State().Schedule("backup").CreatedAt)
	want := func(minutes ...int64) {
		t.Helper()
		testutil.Eventually(t, 30*time.Second, func() (bool, string) {
			got, tasks := runMinutes(c.Leader())
			return slices.Equal(got, minutes) && tasks, fmt.Sprintf("runs at minutes %v (each with its task: %v), want %v", got, tasks, minutes)
		})
	}
	clk.set(created.Add(time.Minute + time.Second))
	want(1)

	// Minute 2 falls due as the leader dies: it or the next leader runs
	// it, once.
	old := c.Leader()
	clk.set(created.Add(2*time.Minute + time.Second))
	c.Kill(old)
	want(1, 2)
	// Over a few of the new leader's passes, nothing runs again.
	testutil.AssertFor(t, 3*time.Second, func() (bool, string) {
		got, _ := runMinutes(c.Leader())
		return slices.Equal(got, []int64{1, 2}), fmt.Sprintf("runs at minutes %v after the failover", got)
	})
	clk.set(created.Add(3*time.Minute + time.Second))
	want(1, 2, 3)

	c.Restart(old)
	c.WaitReady()
	c.EnsureSame(t)
}
