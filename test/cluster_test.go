package test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// svcFile is a service of one 16 MiB container of image, spread over the
// nodes.
func svcFile(name string, count int, image string) []byte {
	return []byte(fmt.Sprintf(`{"service":%q,"desiredCount":%d,"placementStrategy":[{"type":"spread","field":"node"}],
	  "taskDefinition":{"family":%q,"containerDefinitions":[{"name":"app","image":%q,"memory":16}]}}`, name, count, name, image))
}

// runService applies a service of count tasks through the leader and
// waits until all of them run.
func runService(t *testing.T, c *testcluster.Cluster, name string, count int) {
	t.Helper()
	if _, err := c.Leader().Client().ApplyService(context.Background(), name, svcFile(name, count, "img")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		n := len(serviceRunning(c, name))
		return n == count, fmt.Sprintf("%d of %d running", n, count)
	})
}

// peers counts the voters and non-voters of the leader's configuration.
func peers(t *testing.T, c *testcluster.Cluster) (voters, nonvoters int) {
	t.Helper()
	ps, err := c.Leader().Client().RaftPeers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Voter {
			voters++
		} else {
			nonvoters++
		}
	}
	return voters, nonvoters
}

// running counts, across every engine, the running copies of each task id.
func running(c *testcluster.Cluster) map[string]int {
	out := map[string]int{}
	for _, m := range c.Members {
		for id := range m.Runtime.Running() {
			out[id]++
		}
	}
	return out
}

// serviceRunning returns the service's tasks that the leader's replica has
// desired and last RUNNING.
func serviceRunning(c *testcluster.Cluster, svc string) []*structs.Task {
	var out []*structs.Task
	for _, t := range c.Leader().Agent().State().TasksByService(svc) {
		if t.DesiredStatus == structs.StatusRunning && t.LastStatus == structs.StatusRunning {
			out = append(out, t)
		}
	}
	return out
}

func TestClusterBootstrapExpectThree(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		v, n := peers(t, c)
		return v == 3 && n == 0, fmt.Sprintf("%d voters, %d non-voters", v, n)
	})
	for _, m := range c.Members {
		if n := len(m.Agent().State().Nodes()); n != 3 {
			t.Fatalf("%s sees %d nodes once the cluster is ready", m.Name, n)
		}
	}
	c.EnsureSame(t)
}

func TestClusterFiveGivesThreeVotersAndPromotes(t *testing.T) {
	c := testcluster.New(t, 5, 3)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		v, n := peers(t, c)
		return v == 3 && n == 2, fmt.Sprintf("%d voters, %d non-voters", v, n)
	})
	// Kill a voter that is not the leader: after the grace a non-voter
	// takes its place.
	l := c.Leader()
	ps, err := l.Client().RaftPeers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var victim *testcluster.Member
	for _, p := range ps {
		for _, m := range c.Members {
			if p.Voter && !p.Leader && m.Agent().ID() == p.ID && victim == nil {
				victim = m
			}
		}
	}
	c.Kill(victim)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		ps, err := c.Leader().Client().RaftPeers(context.Background())
		if err != nil {
			return false, err.Error()
		}
		aliveVoters := 0
		for _, p := range ps {
			for _, m := range c.Alive() {
				if p.Voter && m.Agent().ID() == p.ID {
					aliveVoters++
				}
			}
		}
		return aliveVoters == 3, fmt.Sprintf("%d live voters", aliveVoters)
	})
	c.EnsureSame(t)
}

// TestClusterLeaderKillLosesNoWrite kills the leader while writes are in
// flight: several clients write distinct services through every agent,
// each retrying on another agent as a person at the CLI would, and the
// leader dies mid-stream. Every write must be acknowledged within the
// clients' patience, and every acknowledged write must be on every live
// replica, which must then agree entirely.
func TestClusterLeaderKillLosesNoWrite(t *testing.T) {
	const writers, perWriter, killAfter = 4, 20, 20
	c := testcluster.New(t, 3, 3)
	old := c.Leader()
	ctx := context.Background()
	var (
		mu      sync.Mutex
		acked   []string
		failed  []string
		done    atomic.Int64 // acknowledged writes
		pending atomic.Int64 // writes under way
	)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				name := fmt.Sprintf("svc-%d-%03d", w, i)
				pending.Add(1)
				// Writers start on different agents, so that writes reach
				// the leader both directly and forwarded by followers.
				err := c.Write(ctx, w+i, name, svcFile(name, 0, "img"), 15*time.Second)
				pending.Add(-1)
				mu.Lock()
				if err != nil {
					failed = append(failed, fmt.Sprintf("%s: %v", name, err))
				} else {
					acked = append(acked, name)
					done.Add(1)
				}
				mu.Unlock()
			}
		}()
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		n := done.Load()
		return n >= killAfter, fmt.Sprintf("%d writes acknowledged", n)
	})
	inFlight := pending.Load()
	killedAt := time.Now()
	c.Kill(old)
	wg.Wait()
	newLeader := c.Leader()
	t.Logf("killed leader %s with %d writes in flight; new leader %s; %d acknowledged, the last %s after the kill",
		old.Name, inFlight, newLeader.Name, len(acked), time.Since(killedAt).Round(time.Millisecond))
	if len(failed) > 0 {
		t.Fatalf("%d of %d writes were never acknowledged: %v", len(failed), writers*perWriter, failed)
	}
	// A consistent read through a follower sees every acknowledged write
	// at once.
	for _, m := range c.Alive() {
		if m == newLeader {
			continue
		}
		cl := m.Client()
		cl.Consistent = true
		svcs, err := cl.Services(ctx)
		if err != nil || len(svcs) < len(acked) {
			t.Fatalf("consistent read through %s: %d services, %v", m.Name, len(svcs), err)
		}
	}
	c.EnsureSame(t)
	for _, m := range c.Alive() {
		st := m.Agent().State()
		for _, name := range acked {
			if st.Service(name) == nil {
				t.Errorf("%s lacks acknowledged write %s", m.Name, name)
			}
		}
	}
}

// TestClusterNodeLossAndReturn kills a node with tasks: they run elsewhere;
// when it returns it stops the containers of its lost tasks, and no task
// id ever runs twice once the cluster has converged.
func TestClusterNodeLossAndReturn(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	l := c.Leader()
	ctx := context.Background()
	if _, err := l.Client().ApplyService(ctx, "web", svcFile("web", 6, "img")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		n := len(serviceRunning(c, "web"))
		return n == 6, fmt.Sprintf("%d running", n)
	})
	// Spread over three registered nodes puts two tasks on each.
	for _, m := range c.Members {
		if n := len(m.Runtime.Running()); n != 2 {
			t.Fatalf("%s runs %d tasks, want 2 of 6 spread over 3 nodes", m.Name, n)
		}
	}
	var victim *testcluster.Member
	for _, m := range c.Members {
		if m != l {
			victim = m
		}
	}
	lostIDs := victim.Runtime.Running()
	victimID := victim.Agent().ID()
	c.Kill(victim)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		run := serviceRunning(c, "web")
		for _, task := range run {
			if task.Node == victimID {
				return false, "a task still counts as running on the dead node"
			}
		}
		return len(run) == 6, fmt.Sprintf("%d running elsewhere", len(run))
	})
	for id := range lostIDs {
		if got := c.Leader().Agent().State().Task(id); got.LastStatus != structs.StatusLost {
			t.Fatalf("task %s on the dead node is %s, want LOST", id, got.LastStatus)
		}
	}
	// The node returns (same data dir, same engine with its old containers).
	c.Restart(victim)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		for id, n := range running(c) {
			if n > 1 {
				return false, "task " + id + " runs twice"
			}
			if lostIDs[id] > 0 {
				return false, "lost task " + id + " still runs on the returned node"
			}
		}
		return len(serviceRunning(c, "web")) == 6, "waiting for 6 running"
	})
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		n := c.Leader().Agent().State().Node(victimID)
		return n.Status == structs.NodeReady, "returned node is " + n.Status
	})
	c.EnsureSame(t)
}

func TestClusterDrain(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	l := c.Leader()
	ctx := context.Background()
	cl := l.Client()
	if _, err := cl.ApplyService(ctx, "web", svcFile("web", 3, "img")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) { return len(serviceRunning(c, "web")) == 3, "waiting for 3" })
	target := c.Members[2]
	targetID := target.Agent().ID()
	if _, err := cl.Drain(ctx, target.Name, true); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		run := serviceRunning(c, "web")
		for _, task := range run {
			if task.Node == targetID {
				return false, "a task still runs on the drained node"
			}
		}
		return len(run) == 3 && len(target.Runtime.Running()) == 0, fmt.Sprintf("%d running", len(run))
	})
	if _, err := cl.Drain(ctx, target.Name, false); err != nil {
		t.Fatal(err)
	}
	if n := l.Agent().State().Node(targetID); n.Eligibility != structs.EligibilityEligible {
		t.Fatalf("undo drain: %s", n.Eligibility)
	}
	c.EnsureSame(t)
}

// TestClusterNewAddressKeepsIdentity restarts a voter on new ports: it is
// the same node, with its new address in Raft, and still a voter.
func TestClusterNewAddressKeepsIdentity(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	l := c.Leader()
	var m *testcluster.Member
	for _, x := range c.Members {
		if x != l {
			m = x
		}
	}
	id := m.Agent().ID()
	c.Kill(m)
	c.NewPorts(m)
	c.Restart(m)
	if m.Agent().ID() != id {
		t.Fatalf("identity changed: %s -> %s", id, m.Agent().ID())
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		ps, err := c.Leader().Client().RaftPeers(context.Background())
		if err != nil {
			return false, err.Error()
		}
		for _, p := range ps {
			if p.ID == id {
				return p.Address == m.RaftAddr && p.Voter && len(ps) == 3, fmt.Sprintf("peer %+v of %d", p, len(ps))
			}
		}
		return false, "not a peer"
	})
	c.WaitReady()
	c.EnsureSame(t)
}

// TestClusterFollowersHearOfCommitsAtOnce gives the leader a commit
// timeout longer than the test, so that a follower hears of the last of a
// run of commits only from the barrier the leader announces it with: every
// replica still ends up with the same state.
func TestClusterFollowersHearOfCommitsAtOnce(t *testing.T) {
	c := testcluster.NewTuned(t, 3, 3, func(cfg *agent.Config) { cfg.CommitTimeout = time.Hour })
	runService(t, c, "web", 3)
	c.EnsureSame(t)
}
