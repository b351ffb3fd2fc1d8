// Package testcluster runs a cluster of skiff agents inside a test process:
// N agents on 127.0.0.1 with the fake runtime, fast failure detection, and
// every agent's log in the test's log under its member name. It kills,
// restarts and partitions agents, and checks that the replicas agree.
package testcluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/faultnet"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/token"
)

// How long the helpers wait for the cluster to settle before failing. A
// loaded 2-core machine running the race detector needs the headroom;
// a healthy cluster settles in a second or two.
const (
	settleTimeout = 30 * time.Second
	sameTimeout   = 20 * time.Second
)

// Member is one agent of a Cluster. Its fake engine outlives the agent, as
// a host's containers outlive a crashed agent, and its data dir and
// addresses stay the same across Restart.
type Member struct {
	Name     string
	Dir      string
	HTTPAddr string
	RaftAddr string
	// GossipAddr is where the member's gossip listens, UDP and TCP.
	GossipAddr string
	Runtime    *runtime.Fake
	// Faults is the member's link filter; Partition and Heal set it.
	Faults *faultnet.Filter
	// Join, when set before a Restart, replaces the addresses the member
	// joins through (every other member's, by default).
	Join []string

	// joined is set on a member Add started, a host joining a running
	// cluster.
	joined  bool
	c       *Cluster
	log     *slog.Logger
	raftLog io.Writer
	a       *agent.Agent // nil while killed; guarded by c.mu
}

// Agent returns the member's running agent, or nil while it is killed.
func (m *Member) Agent() *agent.Agent {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	return m.a
}

// Client returns an API client for the member's address, with the
// management token the agent keeps in its data dir, trusting the CA in
// its data dir, as a person on that host uses them; before the agent
// first starts, those derived from the cluster's token. It works whether
// or not the agent runs; requests to a killed agent fail.
func (m *Member) Client() *api.Client {
	cfg := m.c.clientTLS
	if raw, err := os.ReadFile(filepath.Join(m.Dir, agent.CAFile)); err == nil {
		if own, err := pki.ClientTLS(raw); err == nil {
			cfg = own
		}
	}
	c := api.NewClient(m.HTTPAddr, cfg)
	c.Token = m.c.secret.ManagementToken()
	if raw, err := os.ReadFile(filepath.Join(m.Dir, agent.ManagementTokenFile)); err == nil {
		c.Token = strings.TrimSpace(string(raw))
	}
	return c
}

// Cluster is a set of in-process agents. Its methods are for the test's
// own goroutine, except Alive, Write, Member.Agent and Member.Client, which
// other goroutines (writers racing a Kill) may call. A member's addresses
// change only in NewPorts, which must not run while other goroutines use
// the cluster.
type Cluster struct {
	t       testing.TB
	expect  int
	Members []*Member
	// Token is the cluster's join token, which every member is given.
	Token  string
	secret token.Secret
	// clientTLS trusts the cluster's CA, which every agent derives from
	// the token.
	clientTLS *tls.Config

	// tune changes each agent's configuration before it starts.
	tune func(*agent.Config)

	mu  sync.Mutex
	cut map[*Member]bool // members cut off by Partition; guarded by mu
}

// New starts n agents that form a cluster of expect voters (bootstrap
// expect; the rest join as non-voters). It returns once a leader is known
// to every agent and every agent's node is registered in every replica, so
// that a test's first write lands on the whole cluster. The agents are
// closed when the test ends.
func New(t testing.TB, n, expect int) *Cluster {
	t.Helper()
	return NewTuned(t, n, expect, nil)
}

// NewTuned is New with tune applied to every agent's configuration, at
// every start, after the cluster's own settings. A tune that gives an
// agent another runtime (a real engine's) leaves its Member.Runtime
// unused.
func NewTuned(t testing.TB, n, expect int, tune func(*agent.Config)) *Cluster {
	t.Helper()
	secret, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.ClusterCA(secret)
	if err != nil {
		t.Fatal(err)
	}
	clientTLS, err := pki.ClientTLS(ca.PEM())
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, expect: expect, cut: map[*Member]bool{}, Token: secret.String(), secret: secret, clientTLS: clientTLS, tune: tune}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("n%d", i+1)
		// The log writers come before the cleanup that closes the agents,
		// so that they are still forwarding while the agents stop.
		m := &Member{Name: name, Dir: t.TempDir(), Runtime: runtime.NewFake(), Faults: faultnet.New(), c: c,
			log: testutil.Logger(t), raftLog: testutil.PrefixLogWriter(t, name+": ")}
		c.NewPorts(m)
		c.Members = append(c.Members, m)
	}
	t.Cleanup(func() {
		for _, m := range c.Members {
			if a := m.Agent(); a != nil {
				a.Close()
			}
		}
	})
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, m := range c.Members {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.start(m) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start %s: %v", c.Members[i].Name, err)
		}
	}
	c.WaitReady()
	return c
}

// Add starts one more agent, a host joining the running cluster through
// every member's gossip address, and returns once it is part of the
// cluster (see WaitReady). It joins as a non-voter, unless the leader
// promotes it.
func (c *Cluster) Add() *Member {
	c.t.Helper()
	name := fmt.Sprintf("n%d", len(c.Members)+1)
	m := &Member{Name: name, Dir: c.t.TempDir(), Runtime: runtime.NewFake(), Faults: faultnet.New(), c: c, joined: true,
		log: testutil.Logger(c.t), raftLog: testutil.PrefixLogWriter(c.t, name+": ")}
	c.NewPorts(m)
	c.mu.Lock()
	c.Members = append(c.Members, m)
	c.mu.Unlock()
	if err := c.start(m); err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	c.WaitReady()
	return m
}

// NewPorts gives a killed member new addresses, as a host that comes back
// with a new IP has; Restart then uses them.
func (c *Cluster) NewPorts(m *Member) {
	m.HTTPAddr, m.RaftAddr, m.GossipAddr = testutil.Addr(c.t), testutil.Addr(c.t), testutil.Addr(c.t)
}

// start runs m's agent with the timings of a fast LAN: failure detection
// in about a second, dead members retried every second once a partition
// heals, and a dead voter replaced after two seconds.
func (c *Cluster) start(m *Member) error {
	// A host that joins a running cluster waits for it rather than form
	// one of its own, as a cluster of one's expectation would have it.
	expect := c.expect
	if m.joined && expect == 1 {
		expect = 3
	}
	cfg := agent.Config{Name: m.Name, DataDir: m.Dir, HTTPAddr: m.HTTPAddr, RaftAddr: m.RaftAddr, GossipAddr: m.GossipAddr,
		Join: c.joinAddrs(m), Token: c.Token, BootstrapExpect: expect, CPU: 4096, MemoryMiB: 4096, Runtime: m.Runtime,
		Resync: 200 * time.Millisecond, QuietResync: 200 * time.Millisecond, ProbeInterval: 200 * time.Millisecond, DownAfter: 200 * time.Millisecond,
		PromoteAfter: 2 * time.Second, RemoveAfter: time.Hour, ReconnectInterval: time.Second, Logger: m.log, RaftLog: m.raftLog, Faults: m.Faults}
	if c.tune != nil {
		c.tune(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	c.mu.Lock()
	m.a = a
	c.mu.Unlock()
	return nil
}

// joinAddrs lists the gossip addresses m joins through: the first
// member's, the seed every agent joins at the start, then the others', so
// that a member restarted after the seed moved or died still finds the
// ring.
func (c *Cluster) joinAddrs(m *Member) []string {
	if m.Join != nil {
		return m.Join
	}
	var out []string
	for _, o := range c.Members {
		if o != m {
			out = append(out, o.GossipAddr)
		}
	}
	return out
}

// Kill stops a member's agent without leaving: to the others it has
// crashed. Its containers keep running in its fake engine.
func (c *Cluster) Kill(m *Member) {
	c.t.Helper()
	c.mu.Lock()
	a := m.a
	m.a = nil
	c.mu.Unlock()
	if a == nil {
		c.t.Fatalf("kill %s: not running", m.Name)
	}
	if err := a.Close(); err != nil {
		c.t.Logf("close %s: %v", m.Name, err)
	}
}

// Restart starts a killed member again on its data dir and addresses (new
// ones after NewPorts) and the same engine. It returns once the agent
// runs; WaitReady waits for it to be part of the cluster again.
func (c *Cluster) Restart(m *Member) {
	c.t.Helper()
	if m.Agent() != nil {
		c.t.Fatalf("restart %s: still running", m.Name)
	}
	if err := c.start(m); err != nil {
		c.t.Fatalf("restart %s: %v", m.Name, err)
	}
}

// Alive returns the members whose agents run, partitioned or not. It is
// safe for concurrent use.
func (c *Cluster) Alive() []*Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Member
	for _, m := range c.Members {
		if m.a != nil {
			out = append(out, m)
		}
	}
	return out
}

// connected returns the running members that no Partition has cut off.
func (c *Cluster) connected() []*Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Member
	for _, m := range c.Members {
		if m.a != nil && !c.cut[m] {
			out = append(out, m)
		}
	}
	return out
}

// Leader waits until every running member that is not cut off names the
// same leader, one of them, and returns it.
func (c *Cluster) Leader() *Member {
	c.t.Helper()
	var found *Member
	testutil.Eventually(c.t, settleTimeout, func() (bool, string) {
		found = nil
		seen := map[string][]string{}
		for _, m := range c.connected() {
			h := m.Agent().Health()
			seen[h.Leader] = append(seen[h.Leader], m.Name)
			if h.IsLeader {
				found = m
			}
		}
		return found != nil && len(seen) == 1, fmt.Sprintf("leaders seen (leader id: members): %v", seen)
	})
	return found
}

// WaitReady waits until the connected members agree on a leader and every
// connected member's node is registered, under its current addresses, in
// every connected member's replica.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	c.Leader()
	testutil.Eventually(c.t, settleTimeout, func() (bool, string) {
		members := c.connected()
		for _, viewer := range members {
			st := viewer.Agent().State()
			for _, m := range members {
				n := st.Node(m.Agent().ID())
				if n == nil || n.Address != m.RaftAddr {
					return false, fmt.Sprintf("%s's replica lacks %s's node at %s (has %+v)", viewer.Name, m.Name, m.RaftAddr, n)
				}
			}
		}
		return true, ""
	})
}

// Partition cuts m off from every other member, both ways, for Raft and
// gossip: each side's filter blocks the other's addresses (see faultnet).
// The HTTP API stays reachable, as it would for a client on the cut-off
// side.
func (c *Cluster) Partition(m *Member) {
	c.mu.Lock()
	c.cut[m] = true
	c.mu.Unlock()
	for _, o := range c.Members {
		if o == m {
			continue
		}
		m.Faults.Cut(o.RaftAddr, o.GossipAddr)
		o.Faults.Cut(m.RaftAddr, m.GossipAddr)
	}
}

// Heal lifts every partition.
func (c *Cluster) Heal() {
	c.mu.Lock()
	clear(c.cut)
	c.mu.Unlock()
	for _, m := range c.Members {
		m.Faults.Heal()
	}
}

// snapshot is one replica's state as JSON, table by table and key by key.
type snapshot struct {
	member string
	index  uint64
	tables map[string]map[string]string
}

func takeSnapshot(m *Member, st *fsm.State) (snapshot, error) {
	s := snapshot{member: m.Name, index: st.Index(), tables: map[string]map[string]string{}}
	add := func(table, key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if s.tables[table] == nil {
			s.tables[table] = map[string]string{}
		}
		s.tables[table][key] = string(b)
		return nil
	}
	var err error
	for _, n := range st.Nodes() {
		err = errors.Join(err, add("nodes", n.ID, n))
	}
	for _, v := range st.Services() {
		err = errors.Join(err, add("services", v.Name, v))
	}
	for _, td := range st.TaskDefinitions() {
		err = errors.Join(err, add("taskdefs", fmt.Sprintf("%s:%d", td.Family, td.Revision), td))
	}
	for _, t := range st.Tasks() {
		err = errors.Join(err, add("tasks", t.ID, t))
	}
	// Events are keyed by their index and their place among that index's
	// events, so that a replica with one more or one fewer shows as such.
	n, last := 0, uint64(0)
	for _, e := range st.EventsAfter(0) {
		if e.Index != last {
			n, last = 0, e.Index
		}
		err = errors.Join(err, add("events", fmt.Sprintf("%020d/%d", e.Index, n), e))
		n++
	}
	return s, err
}

// diff describes how b differs from a, at most a few entries per table.
func diff(a, b snapshot) []string {
	var out []string
	tables := map[string]bool{}
	for t := range a.tables {
		tables[t] = true
	}
	for t := range b.tables {
		tables[t] = true
	}
	names := make([]string, 0, len(tables))
	for t := range tables {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, table := range names {
		ta, tb := a.tables[table], b.tables[table]
		keys := map[string]bool{}
		for k := range ta {
			keys[k] = true
		}
		for k := range tb {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		shown := 0
		for _, k := range sorted {
			va, inA := ta[k]
			vb, inB := tb[k]
			if inA && inB && va == vb {
				continue
			}
			shown++
			if shown > 3 {
				out = append(out, fmt.Sprintf("%s: ... and more", table))
				break
			}
			switch {
			case !inB:
				out = append(out, fmt.Sprintf("%s[%s]: only on %s", table, k, a.member))
			case !inA:
				out = append(out, fmt.Sprintf("%s[%s]: only on %s", table, k, b.member))
			default:
				out = append(out, fmt.Sprintf("%s[%s]:\n    %s: %s\n    %s: %s", table, k, a.member, va, b.member, vb))
			}
		}
	}
	return out
}

// EnsureSame waits until every running member's replica has applied the
// same Raft index, then compares their nodes, services, task definitions,
// tasks and events as JSON and fails with a summary of the differences. The
// replicas are read as one snapshot each, so the index and the state
// compared are the same moment of each replica.
func (c *Cluster) EnsureSame(t testing.TB) {
	t.Helper()
	var snaps []snapshot
	testutil.Eventually(t, sameTimeout, func() (bool, string) {
		snaps = snaps[:0]
		indexes := map[string]uint64{}
		for _, m := range c.Alive() {
			a := m.Agent()
			if a == nil {
				continue
			}
			s, err := takeSnapshot(m, a.State())
			if err != nil {
				return false, err.Error()
			}
			snaps = append(snaps, s)
			indexes[m.Name] = s.index
		}
		for _, s := range snaps {
			if s.index != snaps[0].index {
				return false, fmt.Sprintf("replicas at different indexes: %v", indexes)
			}
		}
		return len(snaps) > 0, "no running member"
	})
	var problems []string
	for _, s := range snaps[1:] {
		if d := diff(snaps[0], s); len(d) > 0 {
			problems = append(problems, fmt.Sprintf("%s and %s differ at index %d:\n  %s", snaps[0].member, s.member, s.index, strings.Join(d, "\n  ")))
		}
	}
	if len(problems) > 0 {
		t.Fatalf("replicas diverged:\n%s", strings.Join(problems, "\n"))
	}
}

// Write applies a service file through the running members that no
// Partition cut off, in turn from the start'th, until one acknowledges it
// or timeout passes, as a client that retries on another agent would. Each
// attempt gets a few seconds. It returns the last error when none
// acknowledged. It is safe for concurrent use.
func (c *Cluster) Write(ctx context.Context, start int, name string, file []byte, timeout time.Duration) error {
	const attemptTimeout = 3 * time.Second
	deadline := time.Now().Add(timeout)
	var last error
	for i := start; time.Now().Before(deadline); i++ {
		members := c.connected()
		if len(members) == 0 {
			return errors.New("no running member")
		}
		m := members[i%len(members)]
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		_, err := m.Client().ApplyService(actx, name, file)
		cancel()
		if err == nil {
			return nil
		}
		last = fmt.Errorf("through %s: %w", m.Name, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return last
}
