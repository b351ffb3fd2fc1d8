package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

func TestRank(t *testing.T) {
	n := func(name, battery, status, eligibility string) *structs.Node {
		return &structs.Node{ID: name, Name: name, Status: status, Eligibility: eligibility, Attributes: map[string]string{"battery": battery}}
	}
	ready, ok := structs.NodeReady, structs.EligibilityEligible
	nodes := []*structs.Node{n("a", "40", ready, ok), n("b", "95", ready, ok), n("c", "", ready, ok), n("d", "99", structs.NodeDown, ok),
		n("e", "97", ready, structs.EligibilityIneligible), n("f", "40", ready, ok), n("g", "full", ready, ok)}
	var got []string
	for _, r := range Rank(nodes, "battery") {
		got = append(got, r.Name)
	}
	if strings.Join(got, ",") != "b,a,f" {
		t.Fatalf("ranked %v: want b,a,f (most charge first, ties by name, down, drained and unknown left out)", got)
	}
}

// batteries gives the in-process agents their charge by name.
var batteries = map[string]string{"n1": "30", "n2": "90", "n3": "60"}

const sensorsFile = `{"service":"sensors","desiredCount":4,"scheduler":"external",
  "taskDefinition":{"family":"sensors","containerDefinitions":[{"name":"app","image":"sensor","memory":1024}]}}`

// activeTasks lists the service's tasks that should run, as a member's
// replica holds them.
func activeTasks(m *testcluster.Member) []*structs.Task {
	var out []*structs.Task
	for _, t := range m.Agent().State().TasksByService("sensors") {
		if t.DesiredStatus == structs.StatusRunning && !t.Terminal() {
			out = append(out, t)
		}
	}
	return out
}

// The example places an external service's tasks end to end, by charge,
// while the leader is killed in the middle (after the first placement,
// before the service grows from 4 tasks to 6): no placement is lost and
// none doubled. Stopped, it leaves new tasks pending, past the pending timeout,
// and started again it places them.
func TestSchedulerPlacesThroughFailover(t *testing.T) {
	c := testcluster.NewTuned(t, 3, 3, func(cfg *agent.Config) {
		cfg.Attributes = map[string]string{"battery": batteries[cfg.Name]}
		// Short, for the check that unplaced tasks outlive it, but longer
		// than a failover takes to hear the RUNNING reports that went to
		// the killed leader: a placed task still PENDING past it is
		// replaced, which would move it off the fullest node.
		cfg.PendingTimeout = 3 * time.Second
	})
	leader := c.Leader()
	var via *testcluster.Member
	for _, m := range c.Members {
		if m != leader {
			via = m
			break
		}
	}
	ctx := context.Background()
	if err := c.Write(ctx, 0, "sensors", []byte(sensorsFile), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		n := len(activeTasks(via))
		return n == 4, fmt.Sprintf("%d of 4 unplaced tasks", n)
	})
	start := func() context.CancelFunc {
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		s := &Scheduler{Client: via.Client(), Service: "sensors", Attribute: "battery", Wait: 2 * time.Second, Log: testutil.Logger(t)}
		go func() { defer close(done); _ = s.Run(sctx) }()
		return func() { cancel(); <-done }
	}
	stop := start()
	defer func() { stop() }()
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		for _, task := range activeTasks(via) {
			if !task.Unplaced() {
				return true, ""
			}
		}
		return false, "no task placed yet"
	})
	c.Kill(leader)
	// The new leader takes more tasks while the scheduler runs on.
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		_, err := via.Client().Scale(ctx, "sensors", 6)
		return err == nil, fmt.Sprintf("scale to 6 after the failover: %v", err)
	})
	alive := map[string]string{} // node id: battery, of the members left
	for _, m := range c.Alive() {
		alive[m.Agent().Health().Node] = batteries[m.Name]
	}
	// placedOn counts the active tasks by node; it fails on a task that
	// waits or sits on the killed node.
	placedOn := func(want int) (map[string]int, string) {
		tasks := activeTasks(via)
		by := map[string]int{}
		for _, task := range tasks {
			if _, ok := alive[task.Node]; !ok {
				return nil, fmt.Sprintf("task %s on %q, not on a live node", task.ID, task.Node)
			}
			by[task.Node]++
		}
		if len(tasks) != want {
			return nil, fmt.Sprintf("%d active tasks, want %d", len(tasks), want)
		}
		return by, ""
	}
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		by, why := placedOn(6)
		return by != nil, why
	})
	testutil.AssertFor(t, 3*time.Second, func() (bool, string) {
		by, why := placedOn(6)
		return by != nil, why
	})
	// Most charge first: the fuller of the two live nodes holds four
	// tasks (4096 MiB of 1024 MiB tasks), the other the rest.
	by, _ := placedOn(6)
	ids := make([]string, 0, len(alive))
	for id := range alive {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return alive[ids[i]] > alive[ids[j]] })
	if by[ids[0]] != 4 || by[ids[1]] != 2 {
		t.Fatalf("tasks by node %v: want 4 on %s (battery %s), 2 on %s", by, ids[0], alive[ids[0]], ids[1])
	}

	stop()
	if _, err := via.Client().Scale(ctx, "sensors", 8); err != nil {
		t.Fatal(err)
	}
	unplaced := func() (int, int) {
		n, all := 0, activeTasks(via)
		for _, task := range all {
			if task.Unplaced() {
				n++
			}
		}
		return n, len(all)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		n, all := unplaced()
		return n == 2 && all == 8, fmt.Sprintf("%d unplaced of %d", n, all)
	})
	// Well past the pending timeout, nothing replaces the waiting tasks.
	testutil.AssertFor(t, 4*time.Second, func() (bool, string) {
		n, all := unplaced()
		return n == 2 && all == 8, fmt.Sprintf("with no scheduler running: %d unplaced of %d active", n, all)
	})
	stop = start()
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		by, why := placedOn(8)
		return by != nil, why
	})
	c.EnsureSame(t)
}
