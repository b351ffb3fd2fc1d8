package test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

const rebalanceHealthyAfter = time.Second

// webSpread counts web's wanted tasks by node name, and reports whether
// all of them run with no rebalance move under way and no task still
// stopping.
func webSpread(c *testcluster.Cluster, st *fsm.State) (map[string]int, bool) {
	names := map[string]string{}
	for _, m := range c.Members {
		if a := m.Agent(); a != nil {
			names[a.ID()] = m.Name
		}
	}
	out := map[string]int{}
	steady := true
	tasks := st.TasksByService("web")
	for _, t := range tasks {
		if t.Active() && t.DesiredStatus == structs.StatusRunning {
			out[names[t.Node]]++
			steady = steady && t.LastStatus == structs.StatusRunning
		}
		if t.Active() && t.DesiredStatus == structs.StatusStopped {
			steady = false
		}
	}
	if r, _ := structs.MoveOf(tasks); r != nil {
		steady = false
	}
	return out, steady
}

// healthyWatch checks the leader's replica at every change it sees until
// stopped: web keeps at least min healthy tasks (running for the health
// gate) and never more than one task beyond its desired count wanted.
func healthyWatch(t *testing.T, a *agent.Agent, min int) (stop func() []string) {
	var mu sync.Mutex
	var failed []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			watch := a.FSM().Watch()
			st := a.State()
			healthy, wanted := 0, 0
			for _, task := range st.TasksByService("web") {
				if task.Active() && task.DesiredStatus == structs.StatusRunning {
					wanted++
					if task.LastStatus == structs.StatusRunning && time.Since(time.UnixMilli(task.StartedAt)) >= rebalanceHealthyAfter {
						healthy++
					}
				}
			}
			mu.Lock()
			if healthy < min {
				failed = append(failed, fmt.Sprintf("at index %d web had %d healthy tasks, fewer than its minimum %d", st.Index(), healthy, min))
			}
			if wanted > min+1 {
				failed = append(failed, fmt.Sprintf("at index %d web had %d tasks wanted", st.Index(), wanted))
			}
			mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-watch:
			}
		}
	}()
	return func() []string {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return failed
	}
}

// Six tasks of a spread service run 3-3 on two agents; a third agent
// joins, and the leader moves them, one at a time and each replacement
// healthy before the task it replaces stops, to 2-2-2.
func TestClusterRebalanceOnJoin(t *testing.T) {
	c := testcluster.NewTuned(t, 2, 2, func(cfg *agent.Config) { cfg.HealthyAfter = rebalanceHealthyAfter })
	runService(t, c, "web", 6)
	leader := c.Leader()
	if got, _ := webSpread(c, leader.Agent().State()); !maps.Equal(got, map[string]int{"n1": 3, "n2": 3}) {
		t.Fatalf("spread %v before the join: want 3-3", got)
	}
	time.Sleep(rebalanceHealthyAfter)
	stop := healthyWatch(t, leader.Agent(), 6)
	c.Add()
	want := map[string]int{"n1": 2, "n2": 2, "n3": 2}
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		got, steady := webSpread(c, leader.Agent().State())
		return steady && maps.Equal(got, want), fmt.Sprintf("spread %v (steady %v)", got, steady)
	})
	for _, f := range stop() {
		t.Error(f)
	}
	// Every replaced task stopped only after its replacement had run for
	// the health gate, by the times the nodes reported.
	st := leader.Agent().State()
	moves := 0
	for _, r := range st.TasksByService("web") {
		if r.Replaces == "" {
			continue
		}
		moves++
		o := st.Task(r.Replaces)
		if o == nil || !strings.HasPrefix(o.StopReason, "rebalanced: replaced by task "+r.ID) {
			t.Errorf("task %s replaced by %s: %+v, want it stopped as rebalanced", r.Replaces, r.ID, o)
			continue
		}
		if o.StoppedAt < r.StartedAt+rebalanceHealthyAfter.Milliseconds() {
			t.Errorf("task %s stopped at %d, before its replacement %s (started at %d) was healthy", o.ID, o.StoppedAt, r.ID, r.StartedAt)
		}
	}
	if moves != 2 {
		t.Errorf("%d moves: want 2", moves)
	}
	c.EnsureSame(t)
}

// "rebalance": false keeps the 3-3 spread when a third agent joins.
func TestClusterRebalanceOptOut(t *testing.T) {
	c := testcluster.NewTuned(t, 2, 2, func(cfg *agent.Config) { cfg.HealthyAfter = rebalanceHealthyAfter })
	file := []byte(strings.Replace(string(svcFile("web", 6, "img")), `"desiredCount"`, `"rebalance":false,"desiredCount"`, 1))
	if _, err := c.Leader().Client().ApplyService(context.Background(), "web", file); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		n := len(serviceRunning(c, "web"))
		return n == 6, fmt.Sprintf("%d of 6 running", n)
	})
	c.Add()
	// Long enough for the tasks to pass the health gate and for the
	// leader to plan the service on the new node's entry several times.
	time.Sleep(4 * rebalanceHealthyAfter)
	if got, steady := webSpread(c, c.Leader().Agent().State()); !steady || !maps.Equal(got, map[string]int{"n1": 3, "n2": 3}) {
		t.Errorf("spread %v (steady %v): want 3-3 kept", got, steady)
	}
}
