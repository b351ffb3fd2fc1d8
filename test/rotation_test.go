package test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/token"
)

// rotationGrace is how long the test cluster keeps accepting the old
// secret after a rotation.
const rotationGrace = 2 * time.Second

// TestClusterTokenRotation rotates the cluster secret of a cluster that
// runs a service: no container stops, every agent keeps the new token and
// the new bootstrap management token in its data dir, the old management
// token stops working at once, and once the grace is over an agent with
// the old join token is not heard while one with the new token joins. A
// member restarted with the old --token on its command line (a service
// manager that was never told) starts on the new secret and rejoins.
func TestClusterTokenRotation(t *testing.T) {
	c := testcluster.NewTuned(t, 3, 3, func(cfg *agent.Config) { cfg.RotationGrace = rotationGrace })
	ctx := context.Background()
	runService(t, c, "web", 3)
	before := running(c)
	oldMgmt := c.Members[0].Client().Token

	// Through a follower, as a person would on any host.
	var follower *testcluster.Member
	for _, m := range c.Members {
		if m != c.Leader() {
			follower = m
		}
	}
	rot, err := follower.Client().RotateToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next, err := token.Parse(rot.Token)
	if err != nil || rot.Token == c.Token {
		t.Fatalf("rotation answered %q: %v", rot.Token, err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		for _, m := range c.Members {
			kept, ok, err := token.Load(m.Dir)
			if err != nil || !ok || kept != next {
				return false, m.Name + " does not keep the new token yet"
			}
			if m.Client().Token != next.ManagementToken() {
				return false, m.Name + " does not keep the new management token yet"
			}
		}
		return true, ""
	})
	for _, m := range c.Members {
		old := m.Client()
		old.Token = oldMgmt
		_, err := old.Nodes(ctx)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
			t.Fatalf("%s: the old management token after the rotation: %v", m.Name, err)
		}
		if _, err := m.Client().Nodes(ctx); err != nil {
			t.Fatalf("%s: the new management token: %v", m.Name, err)
		}
	}

	// Past the grace the old secret is retired everywhere; the cluster
	// still commits and still hears all its members.
	time.Sleep(rotationGrace + time.Second)
	if err := c.Write(ctx, 0, "after", svcFile("after", 0, "img"), 10*time.Second); err != nil {
		t.Fatalf("a write after the rotation: %v", err)
	}
	for _, m := range c.Members {
		for _, mem := range m.Agent().Members() {
			if mem.Status != "alive" {
				t.Fatalf("%s sees %s %s after the rotation", m.Name, mem.Name, mem.Status)
			}
		}
	}

	stale := startOutsider(t, "stale", c.Members[0].GossipAddr, c.Token)
	fresh := startOutsider(t, "fresh", c.Members[0].GossipAddr, rot.Token)
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		peers, err := c.Leader().Agent().RaftPeers(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, p := range peers {
			if p.ID == fresh.ID() {
				return true, ""
			}
		}
		return false, "the agent with the new token has no Raft seat yet"
	})
	testutil.AssertFor(t, 3*time.Second, func() (bool, string) {
		for _, m := range c.Alive() {
			for _, mem := range m.Agent().Members() {
				if mem.ID == stale.ID() {
					return false, m.Name + " hears the agent with the old token"
				}
			}
		}
		return len(stale.Members()) == 1, fmt.Sprintf("the agent with the old token sees %d members", len(stale.Members()))
	})

	if got := running(c); !maps.Equal(got, before) {
		t.Fatalf("containers changed over the rotation: before %v, after %v", before, got)
	}

	// A restart with the old token on the command line (c.Token is still
	// the old one) starts on the kept, current secret and rejoins.
	c.Kill(follower)
	c.Restart(follower)
	c.WaitReady()
	c.EnsureSame(t)
	raw, err := os.ReadFile(filepath.Join(follower.Dir, token.RetiredFileName))
	if err != nil || strings.Contains(string(raw), c.Token) {
		t.Fatalf("the retired-token file: %v %q", err, raw)
	}
}

// TestClusterCertificateRenewal runs a cluster whose node certificates
// last three seconds, renewed with one left: across several renewals the
// cluster keeps committing and no container stops, and an agent that joins
// after every first certificate expired (each link it makes is a new TLS
// handshake with the members' renewed certificates) gets its seat and the
// whole state.
func TestClusterCertificateRenewal(t *testing.T) {
	c := testcluster.NewTuned(t, 3, 3, func(cfg *agent.Config) { cfg.CertificateLifetime = 3 * time.Second })
	ctx := context.Background()
	runService(t, c, "web", 3)
	before := running(c)
	for i := range 4 {
		time.Sleep(time.Second)
		if err := c.Write(ctx, i, fmt.Sprintf("s%d", i), svcFile(fmt.Sprintf("s%d", i), 0, "img"), 10*time.Second); err != nil {
			t.Fatalf("write %d across renewals: %v", i, err)
		}
	}
	late := startOutsider(t, "late", c.Members[0].GossipAddr, c.Token)
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		if late.State().Service("s3") == nil {
			return false, "the late agent has not caught up"
		}
		peers, err := c.Leader().Agent().RaftPeers(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, p := range peers {
			if p.ID == late.ID() {
				return true, ""
			}
		}
		return false, "the late agent has no Raft seat yet"
	})
	if got := running(c); !maps.Equal(got, before) {
		t.Fatalf("containers changed across renewals: before %v, after %v", before, got)
	}
	c.EnsureSame(t)
}

// startOutsider starts an agent that is not a cluster member and joins
// through addr with the given join token.
func startOutsider(t *testing.T, name, addr, tok string) *agent.Agent {
	t.Helper()
	a, err := agent.New(agent.Config{Name: name, DataDir: t.TempDir(), HTTPAddr: testutil.Addr(t), RaftAddr: testutil.Addr(t),
		GossipAddr: testutil.Addr(t), Join: []string{addr}, Token: tok, BootstrapExpect: 3, CPU: 1024, MemoryMiB: 1024,
		Runtime: runtime.NewFake(), ProbeInterval: 200 * time.Millisecond, ReconnectInterval: time.Second,
		Logger: testutil.Logger(t), RaftLog: testutil.PrefixLogWriter(t, name+": ")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}
