package raft

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/structs"
	"github.com/skiff-run/skiff/token"
)

func nodeTLS(t *testing.T, s token.Secret, id string) *tls.Config {
	t.Helper()
	ca, err := pki.ClusterCA(s)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ca.NewNode(id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return n.MutualTLS()
}

// TestMutualTLS runs two Raft nodes of one cluster over mutual TLS: the
// follower gets the log. Plain TCP, and TLS with another cluster's
// certificate, are refused at the Raft port, and the cluster goes on.
func TestMutualTLS(t *testing.T) {
	secret, _ := token.Generate()
	f1, f2 := fsm.New(nil), fsm.New(nil)
	addr1, addr2 := testutil.Addr(t), testutil.Addr(t)
	n1, err := Open(Config{NodeID: "n1", DataDir: t.TempDir(), BindAddr: addr1, Bootstrap: true, TLS: nodeTLS(t, secret, "n1")}, f1)
	if err != nil {
		t.Fatal(err)
	}
	defer n1.Close()
	n2, err := Open(Config{NodeID: "n2", DataDir: t.TempDir(), BindAddr: addr2, TLS: nodeTLS(t, secret, "n2")}, f2)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) { return n1.IsLeader(), "n1 leads" })
	if err := n1.AddVoter("n2", addr2); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := n1.Apply(ctx, mustEncode(t, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "a"}}), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) { return f2.State().Node("a") != nil, "the follower has the entry" })

	// Plain TCP gets no Raft answer: the bytes are a failed handshake.
	raw, err := net.Dial("tcp", addr1)
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = raw.Write([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	if _, err := io.ReadAll(raw); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("plain TCP was left open")
		}
	}
	raw.Close()
	// The port speaks TLS to a certificate of the cluster, and refuses
	// another cluster's.
	c, err := tls.Dial("tcp", addr1, nodeTLS(t, secret, "n3"))
	if err != nil {
		t.Fatalf("the cluster's own certificate: %v", err)
	}
	c.Close()
	other, _ := token.Generate()
	if c, err := tls.Dial("tcp", addr1, nodeTLS(t, other, "intruder")); err == nil {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, rerr := c.Read(make([]byte, 1)); rerr == nil {
			t.Fatal("another cluster's certificate was accepted")
		}
		c.Close()
	}
	if _, err := n1.Apply(ctx, mustEncode(t, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "b"}}), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) { return f2.State().Node("b") != nil, "the follower has the second entry" })
}
