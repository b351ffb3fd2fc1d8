package test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/token"
)

// raftAddrOf is the address the leader's Raft configuration has for id,
// or "" when id has no seat.
func raftAddrOf(t *testing.T, c *testcluster.Cluster, id string) string {
	t.Helper()
	peers, err := c.Leader().Agent().RaftPeers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		if p.ID == id {
			return p.Address
		}
	}
	return ""
}

// TestClusterGossipAloneDoesNotMoveAVoter kills a voter and lets an
// impostor that holds the gossip key claim the voter's id in gossip, with
// a Raft address whose certificate, though the cluster's, is another
// node's. The leader hears the claim but leaves the voter where it was.
// The real voter, back under a new address, proves its id there and is
// moved.
func TestClusterGossipAloneDoesNotMoveAVoter(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	leader := c.Leader()
	var victim *testcluster.Member
	for _, m := range c.Members {
		if m != leader {
			victim = m
			break
		}
	}
	id := victim.Agent().ID()
	if got := raftAddrOf(t, c, id); got != victim.RaftAddr {
		t.Fatalf("the victim's seat is at %q, want %s", got, victim.RaftAddr)
	}
	c.Kill(victim)

	secret, err := token.Parse(c.Token)
	if err != nil {
		t.Fatal(err)
	}
	raftAddr := serveRaftTLS(t, secret, "someone-else")
	gossipAddr := testutil.Addr(t)
	host, port, _ := net.SplitHostPort(gossipAddr)
	portN, _ := strconv.Atoi(port)
	impostor, err := gossip.Start(gossip.Config{
		Meta:     gossip.Meta{ID: id, Name: "impostor", RaftAddr: raftAddr, APIAddr: testutil.Addr(t), Version: agent.Version},
		BindAddr: host, BindPort: portN, AdvertiseAddr: host, ProbeInterval: 200 * time.Millisecond,
		SecretKey: secret.GossipKey(), LogOutput: testutil.PrefixLogWriter(t, "impostor: "),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Shut down, not left: a leave would be news of its own.
	defer impostor.Shutdown()
	// Gossip takes a dead member's name back only after its reclaim time,
	// so the impostor keeps knocking until the leader lists it.
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		for _, m := range c.Leader().Agent().Members() {
			if m.ID == id && m.RaftAddr == raftAddr && m.Status == gossip.StatusAlive {
				return true, ""
			}
		}
		_, err := impostor.Join([]string{leader.GossipAddr}, 0)
		return false, fmt.Sprintf("the leader does not list the impostor yet (join: %v)", err)
	})
	testutil.AssertFor(t, 3*time.Second, func() (bool, string) {
		got := raftAddrOf(t, c, id)
		return got == victim.RaftAddr, fmt.Sprintf("the victim's seat is at %q, want %s", got, victim.RaftAddr)
	})
	impostor.Shutdown()

	c.NewPorts(victim)
	c.Restart(victim)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		got := raftAddrOf(t, c, id)
		return got == victim.RaftAddr, fmt.Sprintf("the victim's seat is at %q, want its new address %s", got, victim.RaftAddr)
	})
	c.WaitReady()
}

// serveRaftTLS listens like a Raft port of the cluster, with the cluster's
// certificate for node id, and returns its address. It completes
// handshakes and reads each connection to its end.
func serveRaftTLS(t *testing.T, secret token.Secret, id string) string {
	t.Helper()
	ca, err := pki.ClusterCA(secret)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ca.NewNode(id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", n.MutualTLS())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}
