package node

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/skiff-run/skiff/endpoints"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// heldStops is a Fake whose stops wait until release is closed, and which
// records the tasks whose stop has begun.
type heldStops struct {
	*runtime.Fake
	release chan struct{}
	mu      sync.Mutex
	begun   map[string]bool
}

func (h *heldStops) Stop(ctx context.Context, node, id string, grace time.Duration) error {
	h.mu.Lock()
	h.begun[id] = true
	h.mu.Unlock()
	select {
	case <-h.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return h.Fake.Stop(ctx, node, id, grace)
}

func (h *heldStops) stopping(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.begun[id]
}

// startHeld runs a runner with a deregistration delay over a Fake whose
// stops are held.
func startHeld(t *testing.T, delay time.Duration) (*setup, *heldStops) {
	fake := runtime.NewFake()
	h := &heldStops{Fake: fake, release: make(chan struct{}), begun: map[string]bool{}}
	s := &setup{rt: fake, c: fsmtest.New()}
	s.r = New(Config{Node: structs.Node{ID: "n1", Name: "one", CPU: 1024, MemoryMiB: 1024, PortMin: 1, PortMax: 2},
		Runtime: h, Replica: s.c.FSM, Committer: s.c, CaughtUp: s.caughtUp.Load, HasLeader: func() bool { return true },
		Resync: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DeregistrationDelay: delay})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	s.caughtUp.Store(true)
	return s, h
}

// TestStopWaitsOutTheDeregistrationDelay: a running task of a service that
// is asked to stop is out of its service's endpoints at once, and its
// containers get SIGTERM only after the delay; a one-off task, in no
// endpoints, stops at once.
func TestStopWaitsOutTheDeregistrationDelay(t *testing.T) {
	s, h := startHeld(t, time.Hour)
	close(h.release)
	ctx := context.Background()
	s.place(t, "svc")
	if _, err := s.c.Commit(ctx, fsm.CmdCommitPlan, fsm.CommitPlan{Place: []structs.Task{{ID: "oneoff",
		TaskDefinition: "web:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both running", func() bool {
		st := s.c.FSM.State()
		return st.Task("svc").LastStatus == structs.StatusRunning && st.Task("oneoff").LastStatus == structs.StatusRunning
	})
	if _, err := s.c.Commit(ctx, fsm.CmdCommitPlan, fsm.CommitPlan{Stop: []fsm.TaskStop{{ID: "svc", Reason: "scaled down"}, {ID: "oneoff", Reason: "stopped"}}}); err != nil {
		t.Fatal(err)
	}
	if st := s.c.FSM.State(); endpoints.Serving(st, st.Task("oneoff")) || endpoints.Serving(st, st.Task("svc")) {
		t.Fatal("a task asked to stop still serves")
	}
	waitFor(t, "the one-off task stopped", func() bool { return h.stopping("oneoff") && s.rt.Running()["oneoff"] == 0 })
	testutil.AssertFor(t, 500*time.Millisecond, func() (bool, string) {
		return !h.stopping("svc") && s.rt.Running()["svc"] == 1, "the service's task was stopped before its deregistration delay"
	})
}

// TestFailingTaskLeavesEndpointsBeforeItsStop: when an essential container
// exits while another still runs, the node reports what it sees before it
// stops the rest, however long that stop takes, so that the task leaves
// its service's endpoints at once.
func TestFailingTaskLeavesEndpointsBeforeItsStop(t *testing.T) {
	s, h := startHeld(t, 0)
	defer close(h.release)
	ctx := context.Background()
	pair := structs.TaskDefinition{Family: "pair", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img"}, {Name: "side", Image: "img"}}}
	if _, err := s.c.Commit(ctx, fsm.CmdRegisterTaskDefinition, fsm.RegisterTaskDefinition{TaskDefinition: pair}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.Commit(ctx, fsm.CmdCommitPlan, fsm.CommitPlan{Place: []structs.Task{{ID: "p", Service: "pair",
		TaskDefinition: "pair:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "p running", func() bool { return s.c.FSM.State().Task("p").LastStatus == structs.StatusRunning })
	s.rt.Exit("p", "app", 1)
	waitFor(t, "the exit reported while the stop is held", func() bool {
		st := s.c.FSM.State()
		task := st.Task("p")
		healthy, _ := endpoints.Healthy(task, &pair, 0, time.Now())
		return h.stopping("p") && task.LastStatus == structs.StatusRunning && !healthy
	})
}
