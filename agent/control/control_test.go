package control

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/structs"
)

// fakeRaft is a Raft whose leadership the test drives. Every call records
// the order of barriers and commits.
type fakeRaft struct {
	leaderCh chan bool
	mu       sync.Mutex
	leading  bool
	log      []string // "barrier" and "commit" in the order they happened
}

func newFakeRaft() *fakeRaft { return &fakeRaft{leaderCh: make(chan bool)} }

func (r *fakeRaft) LeaderCh() <-chan bool { return r.leaderCh }
func (r *fakeRaft) IsLeader() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.leading
}
func (r *fakeRaft) LeaderID() string {
	if r.IsLeader() {
		return "n1"
	}
	return ""
}
func (r *fakeRaft) Barrier(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.leading {
		return raft.ErrNotLeader
	}
	r.log = append(r.log, "barrier")
	return nil
}
func (r *fakeRaft) HasState() (bool, error)               { return true, nil }
func (r *fakeRaft) BootstrapWith(map[string]string) error { return nil }
func (r *fakeRaft) Peers() ([]raft.Peer, error)           { return []raft.Peer{{ID: "n1", Voter: true}}, nil }
func (r *fakeRaft) AddVoter(string, string) error         { return nil }
func (r *fakeRaft) AddNonvoter(string, string) error      { return nil }
func (r *fakeRaft) Demote(string) error                   { return nil }
func (r *fakeRaft) Remove(string) error                   { return nil }

// setLeading changes leadership and announces it, as Raft does.
func (r *fakeRaft) setLeading(leading bool) {
	r.mu.Lock()
	r.leading = leading
	r.mu.Unlock()
	r.leaderCh <- leading
}

func (r *fakeRaft) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

type noMembers struct{}

func (noMembers) Members() []gossip.Member { return nil }
func (noMembers) Changed() <-chan struct{} { return nil }

// newTestPlane runs a control plane over a fake Raft whose leadership the
// test drives; commits reach a real FSM, and only while the fake leads.
func newTestPlane(t *testing.T) (*ControlPlane, *fakeRaft, *fsmtest.Committer) {
	r := newFakeRaft()
	c := fsmtest.New()
	f := c.FSM
	cp := New(Config{ID: "n1", BootstrapExpect: 1, Voters: 3, DownAfter: time.Second, PromoteAfter: time.Minute, RemoveAfter: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, r, noMembers{}, f, leaderOnly{r, c})
	return cp, r, c
}

func run(t *testing.T, cp *ControlPlane) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); cp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func countOf(events []string, what string) int {
	n := 0
	for _, e := range events {
		if e == what {
			n++
		}
	}
	return n
}

// TestEveryTermStartsWithABarrier loses and regains leadership: each new
// term passes a Barrier before its first commit, and no commit happens
// while not leading.
func TestEveryTermStartsWithABarrier(t *testing.T) {
	cp, r, c := newTestPlane(t)
	run(t, cp)
	mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", Status: structs.NodeReady, CPU: 1024, MemoryMiB: 1024, PortMin: 1, PortMax: 2}})
	r.setLeading(true)
	waitFor(t, "the first term's barrier", func() bool { return countOf(r.events(), "barrier") == 1 })

	mustCommit(t, c, fsm.CmdApplyService, fsm.ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1},
		TaskDefinition: &structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img", Memory: 10}}}})
	waitFor(t, "a task placed", func() bool { return len(c.FSM.State().TasksByService("web")) == 1 })

	r.setLeading(false)
	r.setLeading(true)
	waitFor(t, "the second term's barrier", func() bool { return countOf(r.events(), "barrier") == 2 })
	// A gain announced while the previous term still runs (the loss in
	// between was not seen) also starts a new term with its own barrier.
	r.setLeading(true)
	waitFor(t, "the third term's barrier", func() bool { return countOf(r.events(), "barrier") == 3 })

	ev := r.events()
	seenBarrier := false
	for _, e := range ev {
		seenBarrier = seenBarrier || e == "barrier"
		if e == "commit" && !seenBarrier {
			t.Fatalf("a commit came before the first barrier: %v", ev)
		}
	}
}

// leaderOnly is the control plane's committer: it refuses while the fake
// Raft does not lead and records every commit it lets through.
type leaderOnly struct {
	r *fakeRaft
	c *fsmtest.Committer
}

func (l leaderOnly) Commit(ctx context.Context, t fsm.CommandType, body any) (any, error) {
	l.r.mu.Lock()
	leading := l.r.leading
	if leading {
		l.r.log = append(l.r.log, "commit")
	}
	l.r.mu.Unlock()
	if !leading {
		return nil, raft.ErrNotLeader
	}
	return l.c.Commit(ctx, t, body)
}

// mustCommit writes a command as a user request would, straight into the
// state, whoever leads.
func mustCommit(t *testing.T, c *fsmtest.Committer, ct fsm.CommandType, body any) {
	t.Helper()
	if _, err := c.Commit(context.Background(), ct, body); err != nil {
		t.Fatal(err)
	}
}

// TestFailureIsReplicatedAndCleared checks that the scheduler's verdict
// lands in the state with typed reasons, and is cleared once the service
// fits.
func TestFailureIsReplicatedAndCleared(t *testing.T) {
	cp, r, c := newTestPlane(t)
	run(t, cp)
	mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 1024, MemoryMiB: 100, PortMin: 1, PortMax: 2}})
	mustCommit(t, c, fsm.CmdApplyService, fsm.ApplyService{Service: structs.Service{Name: "big", DesiredCount: 3},
		TaskDefinition: &structs.TaskDefinition{Family: "big", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img", Memory: 40}}}})
	r.setLeading(true)
	waitFor(t, "a placement failure in the state", func() bool { return c.FSM.State().Service("big").PlacementFailure != nil })
	f := c.FSM.State().Service("big").PlacementFailure
	if f.Count != 1 || len(f.Reasons) != 1 || f.Reasons[0].Kind != structs.ReasonMemory || f.Reasons[0].MostFree != 20 {
		t.Fatalf("failure %+v", f)
	}
	mustCommit(t, c, fsm.CmdScaleService, fsm.ScaleService{Name: "big", DesiredCount: 2})
	waitFor(t, "the failure cleared", func() bool { return c.FSM.State().Service("big").PlacementFailure == nil })
}

func TestRunTasksNeedsALeaderTerm(t *testing.T) {
	cp, r, _ := newTestPlane(t)
	run(t, cp)
	td := &structs.TaskDefinition{Family: "job", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img"}}}
	if _, _, err := cp.RunTasks(context.Background(), td, Run{Count: 1}); !errors.Is(err, raft.ErrNotLeader) {
		t.Fatalf("run while following: %v", err)
	}
	r.setLeading(true)
	waitFor(t, "a term", func() bool { return countOf(r.events(), "barrier") == 1 })
	waitFor(t, "run accepted", func() bool {
		tasks, failure, err := cp.RunTasks(context.Background(), td, Run{Count: 1})
		return err == nil && len(tasks) == 0 && failure != nil && failure.Reasons[0].Kind == structs.ReasonNoNodes
	})
}

// waitFor waits until cond holds, failing with what it waited for.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() (bool, string) { return cond(), "waiting for " + what })
}
