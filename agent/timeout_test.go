package agent

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestLeaderOfGivesUpOnASilentPeer: bootstrap's question to a peer that
// accepts the connection and never answers ends within a few seconds, so
// that one such peer cannot hold the cluster's formation.
func TestLeaderOfGivesUpOnASilentPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	a := &Agent{}
	start := time.Now()
	if _, err := a.leaderOf(context.Background(), ln.Addr().String()); err == nil {
		t.Fatal("a silent peer answered")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the question to a silent peer took %s", took)
	}
}
