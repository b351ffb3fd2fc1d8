package control

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm/fsmtest"
)

// followerRaft is a Raft that follows a leader elsewhere and holds the
// cluster's state, as an agent the leader has added does.
type followerRaft struct{ *fakeRaft }

func (followerRaft) LeaderID() string { return "n2" }

// TestBootstrapEndsOnceAddedByALeader runs the bootstrap loop of an agent
// that a leader elsewhere has added to its cluster: with nothing left to
// bootstrap, the loop returns instead of ticking for as long as the agent
// runs.
func TestBootstrapEndsOnceAddedByALeader(t *testing.T) {
	c := fsmtest.New()
	cp := New(Config{ID: "n1", BootstrapExpect: 3, Voters: 3, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		followerRaft{newFakeRaft()}, noMembers{}, c.FSM, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); cp.bootstrap(ctx) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the bootstrap loop still runs on an agent that follows a leader and holds state")
	}
}
