package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

type setup struct {
	rt       *runtime.Fake
	c        *fsmtest.Committer
	caughtUp atomic.Bool
}

func start(t *testing.T) *setup { return startWith(t, nil, nil) }

// startWith starts a runner that opens secrets with o and logs to log
// (nil discards).
func startWith(t *testing.T, o Opener, log io.Writer) *setup {
	s := &setup{rt: runtime.NewFake(), c: fsmtest.New()}
	if log == nil {
		log = io.Discard
	}
	r := New(Config{Node: structs.Node{ID: "n1", Name: "one", CPU: 1024, MemoryMiB: 1024, PortMin: 1, PortMax: 2},
		Runtime: s.rt, Replica: s.c.FSM, Committer: s.c, CaughtUp: s.caughtUp.Load, HasLeader: func() bool { return true },
		Resync: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})), Secrets: o})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func (s *setup) place(t *testing.T, id string) {
	t.Helper()
	td := structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img"}}}
	if _, err := s.c.Commit(context.Background(), fsm.CmdRegisterTaskDefinition, fsm.RegisterTaskDefinition{TaskDefinition: td}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.Commit(context.Background(), fsm.CmdCommitPlan, fsm.CommitPlan{Place: []structs.Task{{ID: id, Service: "web",
		TaskDefinition: "web:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}}}); err != nil {
		t.Fatal(err)
	}
}

// TestRunnerWaitsUntilCaughtUp: a container of a task the replica does not
// hold yet is left alone until the replica has caught up, then removed.
func TestRunnerWaitsUntilCaughtUp(t *testing.T) {
	s := start(t)
	stray := &structs.Task{ID: "stray", Node: "n1"}
	def := &structs.TaskDefinition{Family: "x", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img"}}}
	if err := s.rt.Start(context.Background(), runtime.TaskSpec{Task: stray, Def: def, Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	testutil.AssertFor(t, 300*time.Millisecond, func() (bool, string) {
		return s.rt.Running()["stray"] == 1 && s.c.FSM.State().Node("n1") == nil, "the runner acted before its replica caught up"
	})
	s.caughtUp.Store(true)
	waitFor(t, "registration", func() bool { return s.c.FSM.State().Node("n1") != nil })
	waitFor(t, "the stray container removed", func() bool { return s.rt.Running()["stray"] == 0 })
}

// TestRunnerStartsReportsAndStops follows one task through its life on the
// node: started and reported running, then reported stopped with the exit
// code when its essential container exits.
func TestRunnerStartsReportsAndStops(t *testing.T) {
	s := start(t)
	s.caughtUp.Store(true)
	s.place(t, "t1")
	waitFor(t, "t1 running", func() bool { return s.c.FSM.State().Task("t1").LastStatus == structs.StatusRunning })
	s.rt.Exit("t1", "app", 3)
	waitFor(t, "t1 stopped", func() bool { return s.c.FSM.State().Task("t1").LastStatus == structs.StatusStopped })
	if got := s.c.FSM.State().Task("t1"); !got.Failed || got.StopReason != "essential container app exited with code 3" {
		t.Fatalf("t1: %+v", got)
	}
}

// waitFor waits until cond holds, failing with what it waited for.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() (bool, string) { return cond(), "waiting for " + what })
}

// TestRunnerReportsTheEngineDown: after a few failed listings in a row the
// node registers the engine's error, and clears it once the engine answers
// again.
func TestRunnerReportsTheEngineDown(t *testing.T) {
	s := start(t)
	s.caughtUp.Store(true)
	waitFor(t, "registration", func() bool { return s.c.FSM.State().Node("n1") != nil })
	s.rt.SetDown(errors.New("Cannot connect to the Docker daemon"))
	waitFor(t, "the engine reported down", func() bool {
		return s.c.FSM.State().Node("n1").EngineError == "Cannot connect to the Docker daemon"
	})
	s.rt.SetDown(nil)
	waitFor(t, "the engine reported back", func() bool { return s.c.FSM.State().Node("n1").EngineError == "" })
}

// TestBatchLen: a status batch holds at most fsm.MaxTasksPerEntry updates
// and stays within maxBatchBytes however large each update is, and one
// update larger than that still goes alone rather than never.
func TestBatchLen(t *testing.T) {
	small := make([]fsm.TaskStatusUpdate, 1000)
	if n := batchLen(small); n != fsm.MaxTasksPerEntry {
		t.Fatalf("small updates: %d in a batch", n)
	}
	big := make([]fsm.TaskStatusUpdate, 50)
	for i := range big {
		big[i].StopReason = strings.Repeat("x", 40<<10)
	}
	n := batchLen(big)
	if n < 1 || n*(40<<10) > maxBatchBytes {
		t.Fatalf("40 KiB updates: %d in a batch", n)
	}
	huge := []fsm.TaskStatusUpdate{{StopReason: strings.Repeat("x", 2*maxBatchBytes)}, {}}
	if n := batchLen(huge); n != 1 {
		t.Fatalf("an update over the limit: %d in a batch", n)
	}
}
