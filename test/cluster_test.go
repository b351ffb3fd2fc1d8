package test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// member is one agent of an in-process cluster. Its Fake engine outlives
// the agent, as a host's containers outlive a crashed agent.
type member struct {
	name                   string
	dir                    string
	http, raft, gossipAddr string
	rt                     *runtime.Fake
	a                      *agent.Agent
}

// cluster runs N agents in this process on 127.0.0.1 with the fake
// runtime and fast failure detection.
type cluster struct {
	t       *testing.T
	expect  int
	members []*member
	seed    string // gossip address every agent joins
}

func newCluster(t *testing.T, n, expect int) *cluster {
	c := &cluster{t: t, expect: expect}
	for i := 0; i < n; i++ {
		m := &member{name: fmt.Sprintf("n%d", i+1), dir: t.TempDir(), rt: runtime.NewFake()}
		c.members = append(c.members, m)
		c.newPorts(m)
	}
	c.seed = c.members[0].gossipAddr
	var wg sync.WaitGroup
	for _, m := range c.members {
		wg.Add(1)
		go func() { defer wg.Done(); c.start(m) }()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, m := range c.members {
			if m.a != nil {
				m.a.Close()
			}
		}
	})
	return c
}

func (c *cluster) newPorts(m *member) {
	m.http, m.raft, m.gossipAddr = testutil.Addr(c.t), testutil.Addr(c.t), testutil.Addr(c.t)
}

func (c *cluster) start(m *member) {
	a, err := agent.New(agent.Config{Name: m.name, DataDir: m.dir, HTTPAddr: m.http, RaftAddr: m.raft, GossipAddr: m.gossipAddr,
		Join: []string{c.seed}, BootstrapExpect: c.expect, CPU: 4096, MemoryMiB: 4096, Runtime: m.rt,
		Resync: 200 * time.Millisecond, ProbeInterval: 200 * time.Millisecond, DownAfter: 200 * time.Millisecond,
		PromoteAfter: 2 * time.Second, RemoveAfter: time.Hour})
	if err != nil {
		c.t.Error(err)
		return
	}
	m.a = a
}

// kill stops an agent without leaving: to the others it has crashed.
func (c *cluster) kill(m *member) {
	c.t.Helper()
	if err := m.a.Close(); err != nil {
		c.t.Logf("close %s: %v", m.name, err)
	}
	m.a = nil
}

func (c *cluster) client(m *member) *api.Client { return api.NewClient(m.a.HTTPAddr()) }

func (c *cluster) alive() []*member {
	var out []*member
	for _, m := range c.members {
		if m.a != nil {
			out = append(out, m)
		}
	}
	return out
}

// leader waits until every live agent names the same live leader.
func (c *cluster) leader() *member {
	c.t.Helper()
	var found *member
	testutil.Eventually(c.t, 30*time.Second, func() (bool, string) {
		found = nil
		ids := map[string]bool{}
		for _, m := range c.alive() {
			h := m.a.Health()
			ids[h.Leader] = true
			if h.IsLeader {
				found = m
			}
		}
		return found != nil && len(ids) == 1, fmt.Sprintf("leaders seen: %v", ids)
	})
	return found
}

func (c *cluster) peers() (voters, nonvoters int) {
	c.t.Helper()
	peers, err := c.client(c.leader()).RaftPeers(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	for _, p := range peers {
		if p.Voter {
			voters++
		} else {
			nonvoters++
		}
	}
	return voters, nonvoters
}

// running counts, across every engine, the running copies of each task id.
func (c *cluster) running() map[string]int {
	out := map[string]int{}
	for _, m := range c.members {
		for id := range m.rt.Running() {
			out[id]++
		}
	}
	return out
}

func (c *cluster) serviceRunning(svc string) []*structs.Task {
	var out []*structs.Task
	for _, t := range c.leader().a.State().TasksByService(svc) {
		if t.DesiredStatus == structs.StatusRunning && t.LastStatus == structs.StatusRunning {
			out = append(out, t)
		}
	}
	return out
}

// svcFile is a service of one 16 MiB container of image, spread over the
// nodes.
func svcFile(name string, count int, image string) []byte {
	return []byte(fmt.Sprintf(`{"service":%q,"desiredCount":%d,"placementStrategy":[{"type":"spread","field":"node"}],
	  "taskDefinition":{"family":%q,"containerDefinitions":[{"name":"app","image":%q,"memory":16}]}}`, name, count, name, image))
}

func TestClusterBootstrapExpectThree(t *testing.T) {
	c := newCluster(t, 3, 3)
	c.leader()
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		v, n := c.peers()
		return v == 3 && n == 0, fmt.Sprintf("%d voters, %d non-voters", v, n)
	})
	// Every agent registered its node, seen from every replica.
	for _, m := range c.members {
		testutil.Eventually(t, 10*time.Second, func() (bool, string) {
			n := len(m.a.State().Nodes())
			return n == 3, fmt.Sprintf("%s sees %d nodes", m.name, n)
		})
	}
}

func TestClusterFiveGivesThreeVotersAndPromotes(t *testing.T) {
	c := newCluster(t, 5, 3)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		v, n := c.peers()
		return v == 3 && n == 2, fmt.Sprintf("%d voters, %d non-voters", v, n)
	})
	// Kill a voter that is not the leader: after the grace a non-voter
	// takes its place.
	l := c.leader()
	peers, _ := c.client(l).RaftPeers(context.Background())
	var victim *member
	for _, p := range peers {
		for _, m := range c.members {
			if p.Voter && !p.Leader && m.a.ID() == p.ID && victim == nil {
				victim = m
			}
		}
	}
	c.kill(victim)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		peers, err := c.client(c.leader()).RaftPeers(context.Background())
		if err != nil {
			return false, err.Error()
		}
		aliveVoters := 0
		for _, p := range peers {
			for _, m := range c.alive() {
				if p.Voter && m.a.ID() == p.ID {
					aliveVoters++
				}
			}
		}
		return aliveVoters == 3, fmt.Sprintf("%d live voters", aliveVoters)
	})
}

// TestClusterLeaderKillLosesNoWrite writes through every agent while the
// leader is killed; every write that was acknowledged must be in the final
// state.
func TestClusterLeaderKillLosesNoWrite(t *testing.T) {
	c := newCluster(t, 3, 3)
	old := c.leader()
	ctx := context.Background()
	var acked []string
	var mu sync.Mutex
	// A client retries a write on any agent until one acknowledges it or
	// ten seconds pass, as a person at the CLI would.
	write := func(i int) {
		name := fmt.Sprintf("svc-%03d", i)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			for _, m := range c.alive() {
				cl := api.NewClient(m.a.HTTPAddr())
				wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				_, err := cl.ApplyService(wctx, name, svcFile(name, 0, "img"))
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, name)
					mu.Unlock()
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i := 0; i < 20; i++ {
		write(i)
	}
	killedAt := time.Now()
	c.kill(old)
	for i := 20; i < 60; i++ {
		write(i)
	}
	newLeader := c.leader()
	if newLeader == old {
		t.Fatal("the killed agent still leads")
	}
	t.Logf("new leader %s; %d writes acknowledged, last one %s after the kill", newLeader.name, len(acked), time.Since(killedAt).Round(time.Millisecond))
	if len(acked) != 60 {
		t.Fatalf("only %d of 60 writes were acknowledged within 10 s each", len(acked))
	}
	// A consistent read through a follower sees every acknowledged write
	// at once.
	for _, m := range c.alive() {
		if m == newLeader {
			continue
		}
		cl := c.client(m)
		cl.Consistent = true
		svcs, err := cl.Services(ctx)
		if err != nil || len(svcs) < len(acked) {
			t.Fatalf("consistent read through %s: %d services, %v", m.name, len(svcs), err)
		}
	}
	for _, m := range c.alive() {
		testutil.Eventually(t, 10*time.Second, func() (bool, string) {
			st := m.a.State()
			for _, name := range acked {
				if st.Service(name) == nil {
					return false, fmt.Sprintf("%s lacks acknowledged write %s", m.name, name)
				}
			}
			return true, ""
		})
	}
}

// TestClusterNodeLossAndReturn kills a node with tasks: they run elsewhere;
// when it returns it stops the containers of its lost tasks, and no task
// id ever runs twice once the cluster has converged.
func TestClusterNodeLossAndReturn(t *testing.T) {
	c := newCluster(t, 3, 3)
	l := c.leader()
	ctx := context.Background()
	if _, err := c.client(l).ApplyService(ctx, "web", svcFile("web", 6, "img")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		n := len(c.serviceRunning("web"))
		return n == 6, fmt.Sprintf("%d running", n)
	})
	var victim *member
	for _, m := range c.members {
		if m != l && len(m.rt.Running()) > 0 {
			victim = m
		}
	}
	lostIDs := victim.rt.Running()
	victimID := victim.a.ID()
	c.kill(victim)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		run := c.serviceRunning("web")
		for _, task := range run {
			if task.Node == victimID {
				return false, "a task still counts as running on the dead node"
			}
		}
		return len(run) == 6, fmt.Sprintf("%d running elsewhere", len(run))
	})
	for id := range lostIDs {
		if got := c.leader().a.State().Task(id); got.LastStatus != structs.StatusLost {
			t.Fatalf("task %s on the dead node is %s, want LOST", id, got.LastStatus)
		}
	}
	// The node returns (same data dir, same engine with its old containers).
	c.start(victim)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		for id, n := range c.running() {
			if n > 1 {
				return false, "task " + id + " runs twice"
			}
			if lostIDs[id] > 0 {
				return false, "lost task " + id + " still runs on the returned node"
			}
		}
		return len(c.serviceRunning("web")) == 6, "waiting for 6 running"
	})
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		n := c.leader().a.State().Node(victimID)
		return n.Status == structs.NodeReady, "returned node is " + n.Status
	})
}

func TestClusterDrain(t *testing.T) {
	c := newCluster(t, 3, 3)
	l := c.leader()
	ctx := context.Background()
	cl := c.client(l)
	if _, err := cl.ApplyService(ctx, "web", svcFile("web", 3, "img")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) { return len(c.serviceRunning("web")) == 3, "waiting for 3" })
	target := c.members[2]
	if _, err := cl.Drain(ctx, target.name, true); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		run := c.serviceRunning("web")
		for _, task := range run {
			if task.Node == target.a.ID() {
				return false, "a task still runs on the drained node"
			}
		}
		return len(run) == 3 && len(target.rt.Running()) == 0, fmt.Sprintf("%d running", len(run))
	})
	if _, err := cl.Drain(ctx, target.name, false); err != nil {
		t.Fatal(err)
	}
	if n := l.a.State().Node(target.a.ID()); n.Eligibility != structs.EligibilityEligible {
		t.Fatalf("undo drain: %s", n.Eligibility)
	}
}

// TestClusterNewAddressKeepsIdentity restarts a voter on new ports: it is
// the same node, with its new address in Raft, and still a voter.
func TestClusterNewAddressKeepsIdentity(t *testing.T) {
	c := newCluster(t, 3, 3)
	l := c.leader()
	var m *member
	for _, x := range c.members {
		if x != l {
			m = x
		}
	}
	id := m.a.ID()
	c.kill(m)
	c.newPorts(m)
	c.start(m)
	if m.a.ID() != id {
		t.Fatalf("identity changed: %s -> %s", id, m.a.ID())
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		peers, err := c.client(c.leader()).RaftPeers(context.Background())
		if err != nil {
			return false, err.Error()
		}
		for _, p := range peers {
			if p.ID == id {
				return p.Address == m.raft && p.Voter && len(peers) == 3, fmt.Sprintf("peer %+v of %d", p, len(peers))
			}
		}
		return false, "not a peer"
	})
}
