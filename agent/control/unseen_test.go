package control

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/structs"
)

// TestUnseenPeerIsReplacedAndRemoved: after a power cut gossip never hears
// of a voter that stayed off. Once PromoteAfter has passed since the term
// began it is replaced by an alive non-voter, and once RemoveAfter has
// passed it is removed; before that nothing changes.
func TestUnseenPeerIsReplacedAndRemoved(t *testing.T) {
	peers := []raft.Peer{{ID: "n1", Address: "a1", Voter: true}, {ID: "n2", Address: "a2", Voter: true},
		{ID: "n3", Address: "a3", Voter: true}, {ID: "n4", Address: "a4"}}
	now := time.Now()
	members := staticMembers{member("n1", "a1", gossip.StatusAlive, now), member("n2", "a2", gossip.StatusAlive, now),
		member("n4", "a4", gossip.StatusAlive, now)}
	cp, r, _ := newMembershipPlane(peers, members, nil)
	if err := cp.reconcileMembers(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	if len(r.changes) != 0 {
		t.Fatalf("changes at the start of the term: %q", r.changes)
	}
	if err := cp.reconcileMembers(context.Background(), now.Add(-2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if want := []string{"voter n4@a4", "demote n3"}; !slices.Equal(r.changes, want) {
		t.Fatalf("changes past PromoteAfter: %q, want %q", r.changes, want)
	}
	r.changes = nil
	if err := cp.reconcileMembers(context.Background(), now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(r.changes, "remove n3") {
		t.Fatalf("changes past RemoveAfter: %q", r.changes)
	}
}

// TestUnseenNodeIsMarkedDown: a node in the state that gossip has not
// heard of since the term began is marked down after DownAfter, but never
// before unseenGrace, so that a ring still filling after a power cut does
// not cost a node its tasks; a node gossip knows alive is left alone.
func TestUnseenNodeIsMarkedDown(t *testing.T) {
	c := fsmtest.New()
	for _, id := range []string{"n1", "n2", "n3"} {
		mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: id, Name: "name-" + id, CPU: 1024, MemoryMiB: 1024, PortMin: 1, PortMax: 2}})
	}
	now := time.Now()
	members := staticMembers{member("n1", "a1", gossip.StatusAlive, now), member("n2", "a2", gossip.StatusAlive, now)}
	cp := New(Config{ID: "n1", Voters: 3, DownAfter: time.Second, PromoteAfter: time.Minute, RemoveAfter: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		&membershipRaft{fakeRaft: newFakeRaft()}, members, c.FSM, c)
	ctx := context.Background()
	if err := cp.reconcileNodeHealth(ctx, now.Add(-2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := c.FSM.State().Node("n3").Status; got != structs.NodeReady {
		t.Fatalf("an unseen node inside the grace is %s", got)
	}
	if err := cp.reconcileNodeHealth(ctx, now.Add(-unseenGrace-time.Second)); err != nil {
		t.Fatal(err)
	}
	st := c.FSM.State()
	if got := st.Node("n3").Status; got != structs.NodeDown {
		t.Fatalf("an unseen node past the grace is %s", got)
	}
	if st.Node("n2").Status != structs.NodeReady || st.Node("n1").Status != structs.NodeReady {
		t.Fatal("a node gossip knows alive was marked down")
	}
}
