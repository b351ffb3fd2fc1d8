package control

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/structs"
)

// changingMembers is a gossip view the test sets, with a Changed channel
// the test signals.
type changingMembers struct {
	members []gossip.Member
	changed chan struct{}
}

func (m *changingMembers) Members() []gossip.Member { return m.members }
func (m *changingMembers) Changed() <-chan struct{} { return m.changed }

// newQuietPlane is a control plane led by n1 over three healthy nodes: all
// alive in gossip, voters in Raft and ready in the state.
func newQuietPlane(t *testing.T) (*ControlPlane, *membershipRaft, *changingMembers, *fsmtest.Committer) {
	t.Helper()
	c := fsmtest.New()
	now := time.Now()
	m := &changingMembers{changed: make(chan struct{}, 1)}
	var peers []raft.Peer
	for _, id := range []string{"n1", "n2", "n3"} {
		mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: id, Name: "name-" + id, Status: structs.NodeReady, CPU: 1024, MemoryMiB: 1024, PortMin: 1, PortMax: 2}})
		m.members = append(m.members, member(id, "a-"+id, gossip.StatusAlive, now))
		peers = append(peers, raft.Peer{ID: id, Address: "a-" + id, Voter: true})
	}
	r := &membershipRaft{fakeRaft: newFakeRaft(), peers: peers}
	cp := New(Config{ID: "n1", Voters: 3, DownAfter: time.Second, PromoteAfter: time.Minute, RemoveAfter: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, r, m, c.FSM, c)
	return cp, r, m, c
}

// TestQuietOnlyWhenNoRuleCanComeDue: the membership loop stops ticking
// only while every member is alive, proven and in Raft, every peer alive in
// gossip and every node ready with an engine that answers; anything short
// of that keeps the ticks, which the rules that come due with time need.
func TestQuietOnlyWhenNoRuleCanComeDue(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(*ControlPlane, *membershipRaft, *changingMembers, *fsmtest.Committer)
		quiet bool
	}{
		{"healthy", func(*ControlPlane, *membershipRaft, *changingMembers, *fsmtest.Committer) {}, true},
		{"a member suspect", func(_ *ControlPlane, _ *membershipRaft, m *changingMembers, _ *fsmtest.Committer) {
			m.members[1].Status = gossip.StatusSuspect
		}, false},
		{"a member dead", func(_ *ControlPlane, _ *membershipRaft, m *changingMembers, _ *fsmtest.Committer) {
			m.members[2].Status = gossip.StatusDead
		}, false},
		{"a peer gossip has not heard of", func(_ *ControlPlane, _ *membershipRaft, m *changingMembers, _ *fsmtest.Committer) {
			m.members = m.members[:2]
		}, false},
		{"a member not yet in Raft", func(_ *ControlPlane, r *membershipRaft, _ *changingMembers, _ *fsmtest.Committer) {
			r.peers = r.peers[:2]
		}, false},
		{"a member whose proof failed", func(cp *ControlPlane, _ *membershipRaft, _ *changingMembers, _ *fsmtest.Committer) {
			cp.unproven = map[proofKey]bool{{"n2", "a-n2"}: true}
		}, false},
		{"a node down", func(_ *ControlPlane, _ *membershipRaft, _ *changingMembers, c *fsmtest.Committer) {
			mustCommit(t, c, fsm.CmdSetNodeStatus, fsm.SetNodeStatus{ID: "n3", Status: structs.NodeDown, Reason: "test", At: 1})
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cp, r, m, c := newQuietPlane(t)
			tc.spoil(cp, r, m, c)
			if got := cp.quiet(); got != tc.quiet {
				t.Fatalf("quiet = %v, want %v", got, tc.quiet)
			}
		})
	}
}

// TestQuietLoopWakesOnNodeOrMemberChanges: a quiet membership loop waits
// through changes of other state (a service applied) and wakes as soon as
// a node's record changes or gossip's membership does.
func TestQuietLoopWakesOnNodeOrMemberChanges(t *testing.T) {
	cp, _, m, c := newQuietPlane(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	woke := func() chan bool {
		ch := make(chan bool, 1)
		at := c.FSM.State().NodesChangedAt()
		go func() { ch <- cp.waitForChange(ctx, at) }()
		return ch
	}

	ch := woke()
	mustCommit(t, c, fsm.CmdApplyService, fsm.ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1},
		TaskDefinition: &structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img", Memory: 10}}}})
	select {
	case <-ch:
		t.Fatal("the loop woke for a service's change")
	case <-time.After(100 * time.Millisecond):
	}
	mustCommit(t, c, fsm.CmdSetNodeStatus, fsm.SetNodeStatus{ID: "n2", Eligibility: structs.EligibilityIneligible, At: 2})
	if !<-ch {
		t.Fatal("the loop did not report the node's change")
	}

	ch = woke()
	m.changed <- struct{}{}
	if !<-ch {
		t.Fatal("the loop did not report gossip's change")
	}

	ch = woke()
	cancel()
	if <-ch {
		t.Fatal("the loop reported a change when its term ended")
	}
}
