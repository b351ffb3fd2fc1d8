package control

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/raft"
)

// membershipRaft is a Raft configuration the test sets, which records the
// membership changes asked of it.
type membershipRaft struct {
	*fakeRaft
	peers   []raft.Peer
	changes []string // "voter id@addr", "nonvoter id@addr", "demote id", "remove id"
}

func (r *membershipRaft) Peers() ([]raft.Peer, error) { return r.peers, nil }
func (r *membershipRaft) AddVoter(id, addr string) error {
	r.changes = append(r.changes, "voter "+id+"@"+addr)
	return nil
}
func (r *membershipRaft) AddNonvoter(id, addr string) error {
	r.changes = append(r.changes, "nonvoter "+id+"@"+addr)
	return nil
}
func (r *membershipRaft) Demote(id string) error {
	r.changes = append(r.changes, "demote "+id)
	return nil
}
func (r *membershipRaft) Remove(id string) error {
	r.changes = append(r.changes, "remove "+id)
	return nil
}

// staticMembers is a gossip view the test sets.
type staticMembers []gossip.Member

func (m staticMembers) Members() []gossip.Member { return m }
func (staticMembers) Changed() <-chan struct{}   { return nil }

func member(id, addr, status string, since time.Time) gossip.Member {
	return gossip.Member{Meta: gossip.Meta{ID: id, Name: "name-" + id, RaftAddr: addr}, Status: status, Since: since}
}

// fakeProver proves the claims it is told are true and counts every
// attempt.
type fakeProver struct {
	mu     sync.Mutex
	honest map[string]bool // claims that prove, "id@addr"
	tries  map[string]int
}

func newFakeProver(honest ...string) *fakeProver {
	p := &fakeProver{honest: map[string]bool{}, tries: map[string]int{}}
	for _, c := range honest {
		p.honest[c] = true
	}
	return p
}

func (p *fakeProver) prove(_ context.Context, id, addr string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tries[id+"@"+addr]++
	if !p.honest[id+"@"+addr] {
		return errors.New("the certificate there is for another node")
	}
	return nil
}

func (p *fakeProver) set(claim string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.honest[claim] = true
}

func (p *fakeProver) triesOf(claim string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tries[claim]
}

// newMembershipPlane is a control plane, led by n1, over a Raft
// configuration and a gossip view the test sets; its log goes to the
// returned buffer.
func newMembershipPlane(peers []raft.Peer, members staticMembers, prove func(context.Context, string, string) error) (*ControlPlane, *membershipRaft, *bytes.Buffer) {
	r := &membershipRaft{fakeRaft: newFakeRaft(), peers: peers}
	var logs bytes.Buffer
	cp := New(Config{ID: "n1", Voters: 3, DownAfter: time.Second, PromoteAfter: time.Minute, RemoveAfter: time.Hour, Prove: prove,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}, r, members, nil, nil)
	return cp, r, &logs
}

func reconcile(t *testing.T, cp *ControlPlane) {
	t.Helper()
	if err := cp.reconcileMembers(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestNewMemberJoinsOnlyOnceProven: a member not yet in Raft is added once
// it proves its id at its address. Until then it is left out, tried again
// every round, and its failure is logged once.
func TestNewMemberJoinsOnlyOnceProven(t *testing.T) {
	now := time.Now()
	prover := newFakeProver()
	cp, r, logs := newMembershipPlane([]raft.Peer{{ID: "n1", Address: "h1:7071", Voter: true}},
		staticMembers{member("n1", "h1:7071", gossip.StatusAlive, now), member("n2", "h2:7071", gossip.StatusAlive, now)}, prover.prove)
	reconcile(t, cp)
	reconcile(t, cp)
	if len(r.changes) != 0 {
		t.Fatalf("an unproven member changed Raft: %v", r.changes)
	}
	if n := prover.triesOf("n2@h2:7071"); n != 2 {
		t.Fatalf("%d proofs in two rounds, want 2", n)
	}
	if n := strings.Count(logs.String(), "did not prove its id"); n != 1 {
		t.Fatalf("the failure was logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "another node") || !strings.Contains(logs.String(), "h2:7071") {
		t.Fatalf("the warning should give the address and the reason:\n%s", logs)
	}
	prover.set("n2@h2:7071")
	reconcile(t, cp)
	if !slices.Equal(r.changes, []string{"voter n2@h2:7071"}) {
		t.Fatalf("changes %v", r.changes)
	}
}

// TestVoterMovesOnlyOnceProven: gossip claiming a known voter's id at a
// new address does not move the voter until the new address proves the
// id; a voter at the address Raft knows needs no proof.
func TestVoterMovesOnlyOnceProven(t *testing.T) {
	now := time.Now()
	prover := newFakeProver()
	peers := []raft.Peer{{ID: "n1", Address: "h1:7071", Voter: true}, {ID: "n2", Address: "h2:7071", Voter: true}, {ID: "n3", Address: "h3:7071", Voter: true}}
	members := staticMembers{member("n1", "h1:7071", gossip.StatusAlive, now), member("n2", "evil:7071", gossip.StatusAlive, now), member("n3", "h3:7071", gossip.StatusAlive, now)}
	cp, r, logs := newMembershipPlane(peers, members, prover.prove)
	reconcile(t, cp)
	if len(r.changes) != 0 {
		t.Fatalf("the voter moved on gossip alone: %v", r.changes)
	}
	if prover.triesOf("n3@h3:7071") != 0 {
		t.Fatal("a voter at its known address was asked for a proof")
	}
	if !strings.Contains(logs.String(), "evil:7071") {
		t.Fatalf("the failed move was not logged:\n%s", logs)
	}
	prover.set("n2@evil:7071")
	reconcile(t, cp)
	if !slices.Equal(r.changes, []string{"voter n2@evil:7071"}) {
		t.Fatalf("changes %v", r.changes)
	}
}

// TestFailureIsLoggedAgainAfterASuccess: once a claim proved, a later
// failure of it is news and is logged again.
func TestFailureIsLoggedAgainAfterASuccess(t *testing.T) {
	now := time.Now()
	fail := true
	cp, _, logs := newMembershipPlane([]raft.Peer{{ID: "n1", Address: "h1:7071", Voter: true}},
		staticMembers{member("n1", "h1:7071", gossip.StatusAlive, now), member("n2", "h2:7071", gossip.StatusAlive, now)},
		func(context.Context, string, string) error {
			if fail {
				return errors.New("no")
			}
			return nil
		})
	reconcile(t, cp)
	fail = false
	reconcile(t, cp)
	// The fake's configuration never gains n2, so n2 asks to join again.
	fail = true
	reconcile(t, cp)
	if n := strings.Count(logs.String(), "did not prove its id"); n != 2 {
		t.Fatalf("logged %d times, want 2:\n%s", n, logs)
	}
}

// TestNoProverTrustsGossip: without a prover (no cluster secret) members
// join and move on gossip, as before.
func TestNoProverTrustsGossip(t *testing.T) {
	now := time.Now()
	cp, r, _ := newMembershipPlane([]raft.Peer{{ID: "n1", Address: "h1:7071", Voter: true}, {ID: "n2", Address: "h2:7071", Voter: true}},
		staticMembers{member("n1", "h1:7071", gossip.StatusAlive, now), member("n2", "h2b:7071", gossip.StatusAlive, now), member("n3", "h3:7071", gossip.StatusAlive, now)}, nil)
	reconcile(t, cp)
	if !slices.Equal(r.changes, []string{"voter n2@h2b:7071", "voter n3@h3:7071"}) {
		t.Fatalf("changes %v", r.changes)
	}
}

// TestPromotionKeepsTheProvenAddress: a non-voter that takes a dead
// voter's seat, or fills a missing one, is promoted at the address Raft
// has for it, not at an unproven one gossip claims.
func TestPromotionKeepsTheProvenAddress(t *testing.T) {
	now := time.Now()
	prover := newFakeProver()
	peers := []raft.Peer{{ID: "n1", Address: "h1:7071", Voter: true}, {ID: "n2", Address: "h2:7071", Voter: true},
		{ID: "n3", Address: "h3:7071", Voter: true}, {ID: "n4", Address: "h4:7071"}}
	members := staticMembers{member("n1", "h1:7071", gossip.StatusAlive, now), member("n2", "h2:7071", gossip.StatusAlive, now),
		member("n3", "h3:7071", gossip.StatusDead, now.Add(-2*time.Minute)), member("n4", "evil:7071", gossip.StatusAlive, now)}
	cp, r, _ := newMembershipPlane(peers, members, prover.prove)
	reconcile(t, cp)
	if !slices.Equal(r.changes, []string{"voter n4@h4:7071", "demote n3"}) {
		t.Fatalf("changes %v", r.changes)
	}

	// With a seat free and the non-voter at the address Raft has, it is
	// promoted without a proof.
	prover = newFakeProver()
	cp, r, _ = newMembershipPlane([]raft.Peer{{ID: "n1", Address: "h1:7071", Voter: true}, {ID: "n4", Address: "h4:7071"}},
		staticMembers{member("n1", "h1:7071", gossip.StatusAlive, now), member("n4", "h4:7071", gossip.StatusAlive, now)}, prover.prove)
	reconcile(t, cp)
	if !slices.Equal(r.changes, []string{"voter n4@h4:7071"}) || prover.triesOf("n4@h4:7071") != 0 {
		t.Fatalf("changes %v, %d proofs", r.changes, prover.triesOf("n4@h4:7071"))
	}
}
