package raft

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestReadIndex: a leader restarted on its log answers a read index once
// it has applied the log, and writes nothing for it; a node that does not
// lead refuses at once.
func TestReadIndex(t *testing.T) {
	dir, addr := t.TempDir(), testutil.Addr(t)
	n, _ := openLeader(t, dir, addr)
	for i := range 20 {
		if _, err := n.Apply(context.Background(), mustEncode(t, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: string(rune('a' + i))}}), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n, f := openLeader(t, dir, addr)
	defer n.Close()
	if err := n.ReadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(f.State().Nodes()); got != 20 {
		t.Fatalf("after a read index the replica holds %d of 20 nodes", got)
	}
	// A new leader appends an entry of its own as it takes office; the
	// barrier waits for it, so that only the read indexes are counted.
	if err := n.Barrier(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := n.raft.LastIndex()
	for range 10 {
		if err := n.ReadIndex(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if after := n.raft.LastIndex(); after != before {
		t.Fatalf("read indexes wrote to the log: last index %d, then %d", before, after)
	}

	lone, err := Open(Config{NodeID: "n2", DataDir: t.TempDir(), BindAddr: testutil.Addr(t)}, fsm.New(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer lone.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lone.ReadIndex(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a read index on a node that does not lead: %v", err)
	}
}
