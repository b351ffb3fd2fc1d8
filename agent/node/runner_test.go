package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
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
	r        *Runner
	caughtUp atomic.Bool
}

func start(t *testing.T) *setup {
	fake := runtime.NewFake()
	return startWith(t, fake, fake, nil, nil)
}

// startWith runs a runner on rt, which is fake or drives it, that opens
// secrets with o and logs to log (nil discards).
func startWith(t *testing.T, fake *runtime.Fake, rt runtime.Runtime, o Opener, log io.Writer) *setup {
	return startQuiet(t, fake, rt, o, log, 20*time.Millisecond, 0)
}

// startQuiet is startWith with the runner's Resync and QuietResync.
func startQuiet(t *testing.T, fake *runtime.Fake, rt runtime.Runtime, o Opener, log io.Writer, resync, quiet time.Duration) *setup {
	s := &setup{rt: fake, c: fsmtest.New()}
	if log == nil {
		log = io.Discard
	}
	r := New(Config{Node: structs.Node{ID: "n1", Name: "one", CPU: 1024, MemoryMiB: 1024, PortMin: 1, PortMax: 2},
		Runtime: rt, Replica: s.c.FSM, Committer: s.c, CaughtUp: s.caughtUp.Load, HasLeader: func() bool { return true },
		Resync: resync, QuietResync: quiet,
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})), Secrets: o})
	s.r = r
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

// staleList is a Fake whose List, while the first start is under way,
// reads the engine, lets that start finish and the runner see it end, and
// only then answers: with a picture of the engine from before the start.
// A real engine's listing races with a start's end in just this way.
type staleList struct {
	*runtime.Fake
	s        *setup
	entered  chan struct{} // closed when the first Start begins
	release  chan struct{} // closed to let it go on
	once     sync.Once
	stale    atomic.Bool // whether a stale listing has been served
	returned chan struct{}
}

func (l *staleList) Start(ctx context.Context, spec runtime.TaskSpec) error {
	first := false
	l.once.Do(func() { first = true; close(l.entered) })
	if !first {
		return l.Fake.Start(ctx, spec)
	}
	<-l.release
	defer close(l.returned)
	return l.Fake.Start(ctx, spec)
}

func (l *staleList) List(ctx context.Context, node string) ([]runtime.Observed, error) {
	obs, err := l.Fake.List(ctx, node)
	select {
	case <-l.entered:
	default:
		return obs, err
	}
	if l.stale.CompareAndSwap(false, true) {
		close(l.release)
		<-l.returned
		for {
			l.s.r.mu.Lock()
			busy := len(l.s.r.busy) > 0
			l.s.r.mu.Unlock()
			if !busy {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	return obs, err
}

// TestRunnerIgnoresAListingOlderThanAStart: a listing begun before a
// start ended shows the task without its container; the runner must not
// take that for a task still to start and start it again.
func TestRunnerIgnoresAListingOlderThanAStart(t *testing.T) {
	fake := runtime.NewFake()
	l := &staleList{Fake: fake, entered: make(chan struct{}), release: make(chan struct{}), returned: make(chan struct{})}
	s := startWith(t, fake, l, nil, nil)
	l.s = s
	s.caughtUp.Store(true)
	s.place(t, "t1")
	waitFor(t, "t1 running", func() bool { return s.c.FSM.State().Task("t1").LastStatus == structs.StatusRunning })
	waitFor(t, "the stale listing served", l.stale.Load)
	testutil.AssertFor(t, 200*time.Millisecond, func() (bool, string) {
		n := fake.Starts()
		return n == 1, fmt.Sprintf("t1 started %d times", n)
	})
}

// heldStarts is a Fake that counts the listings of the engine and holds
// every start until release is closed.
type heldStarts struct {
	*runtime.Fake
	lists   atomic.Int64
	release chan struct{}
}

func (h *heldStarts) List(ctx context.Context, node string) ([]runtime.Observed, error) {
	h.lists.Add(1)
	return h.Fake.List(ctx, node)
}

func (h *heldStarts) Start(ctx context.Context, spec runtime.TaskSpec) error {
	select {
	case <-h.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return h.Fake.Start(ctx, spec)
}

// listingsDuringWakeUps wakes the runner without pause for ten times
// minPassGap and returns how many listings of the engine that cost.
func listingsDuringWakeUps(s *setup, h *heldStarts) (n, paced int64) {
	const window = 10 * minPassGap
	before := h.lists.Load()
	for t0 := time.Now(); time.Since(t0) < window; {
		s.r.wake()
		time.Sleep(time.Millisecond)
	}
	return h.lists.Load() - before, int64(window/minPassGap) + 2
}

// TestRunnerPacesPassesWhileWorking: wake-ups without pause, as a node
// starting many containers gets from their ends, events and reports, cost
// one listing of the engine per minPassGap while a start is under way, not
// one per wake-up; with none under way each is answered at once, so that a
// placement never waits for the gap.
func TestRunnerPacesPassesWhileWorking(t *testing.T) {
	fake := runtime.NewFake()
	h := &heldStarts{Fake: fake, release: make(chan struct{})}
	s := startWith(t, fake, h, nil, nil)
	s.caughtUp.Store(true)
	waitFor(t, "registration", func() bool { return s.c.FSM.State().Node("n1") != nil })
	if n, paced := listingsDuringWakeUps(s, h); n <= paced {
		t.Fatalf("idle: %d listings for wake-ups a millisecond apart, as few as %d paced ones would be", n, paced)
	}
	s.place(t, "t1")
	waitFor(t, "the start under way", s.r.working)
	if n, paced := listingsDuringWakeUps(s, h); n > paced {
		t.Fatalf("working: %d listings in ten gaps of wake-ups, more than one per %s", n, minPassGap)
	}
	close(h.release)
	waitFor(t, "t1 running", func() bool { return s.c.FSM.State().Task("t1").LastStatus == structs.StatusRunning })
}

// TestRunnerReadsAQuietEngineRarely: with nothing to catch up on, the
// runner leaves the engine alone between the changes it announces, where
// it otherwise re-reads it every Resync; a change is acted on at once, and
// an engine that stops answering (its event stream breaks, which is
// announced) is read every Resync again until it is back.
func TestRunnerReadsAQuietEngineRarely(t *testing.T) {
	fake := runtime.NewFake()
	h := &heldStarts{Fake: fake, release: make(chan struct{})}
	close(h.release)
	s := startQuiet(t, fake, h, nil, nil, 20*time.Millisecond, time.Hour)
	s.caughtUp.Store(true)
	s.place(t, "t1")
	waitFor(t, "t1 running", func() bool { return s.c.FSM.State().Task("t1").LastStatus == structs.StatusRunning })
	// Ten Resyncs pass; the wake-ups that settling still brings are over
	// after the first few, and then the engine is not read again.
	time.Sleep(10 * 20 * time.Millisecond)
	before := h.lists.Load()
	testutil.AssertFor(t, 300*time.Millisecond, func() (bool, string) {
		n := h.lists.Load() - before
		return n == 0, fmt.Sprintf("%d listings of a quiet engine in fifteen Resyncs", n)
	})
	fake.Stop(context.Background(), "n1", "t1", time.Second)
	waitFor(t, "the stop seen", func() bool { return s.c.FSM.State().Task("t1").LastStatus == structs.StatusStopped })
	s.rt.SetDown(errors.New("Cannot connect to the Docker daemon"))
	waitFor(t, "the engine reported down", func() bool {
		return s.c.FSM.State().Node("n1").EngineError == "Cannot connect to the Docker daemon"
	})
	s.rt.SetDown(nil)
	waitFor(t, "the engine reported back", func() bool { return s.c.FSM.State().Node("n1").EngineError == "" })
}

// TestRunnerWaitsOutAShortEngineOutage: an engine that restarts fails its
// event stream's reconnects every second, each of which wakes a pass, so
// failed listings come fast; the node reports the engine down only once
// they span two Resyncs, not at the third of them.
func TestRunnerWaitsOutAShortEngineOutage(t *testing.T) {
	fake := runtime.NewFake()
	s := startQuiet(t, fake, fake, nil, nil, 300*time.Millisecond, time.Hour)
	s.caughtUp.Store(true)
	waitFor(t, "registration", func() bool { return s.c.FSM.State().Node("n1") != nil })
	down := errors.New("Cannot connect to the Docker daemon")
	reported := func() bool { return s.c.FSM.State().Node("n1").EngineError != "" }
	// Announcements every 10 ms for 300 ms: thirty failed listings within
	// one Resync.
	for range 30 {
		s.rt.SetDown(down)
		time.Sleep(10 * time.Millisecond)
	}
	if reported() {
		t.Fatal("the engine was reported down within one Resync of its first failed listing")
	}
	waitFor(t, "the engine reported down once the failures span two Resyncs", reported)
	s.rt.SetDown(nil)
	waitFor(t, "the engine reported back", func() bool { return !reported() })
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

// graces is a Fake that records the grace each task's stop was given.
type graces struct {
	*runtime.Fake
	mu  sync.Mutex
	got map[string]time.Duration
}

func (g *graces) Stop(ctx context.Context, node, id string, grace time.Duration) error {
	g.mu.Lock()
	g.got[id] = grace
	g.mu.Unlock()
	return g.Fake.Stop(ctx, node, id, grace)
}

func (g *graces) of(id string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.got[id]
}

// TestRunnerStopGrace: a running task's containers get their definition's
// stopTimeout to exit (30 s when it names none, as in ECS), and a task
// stopped before it ever reported RUNNING gets a short grace, since a
// program that has not set up its SIGTERM handler yet would hold the stop
// for the whole stopTimeout.
func TestRunnerStopGrace(t *testing.T) {
	fake := runtime.NewFake()
	g := &graces{Fake: fake, got: map[string]time.Duration{}}
	s := startWith(t, fake, g, nil, nil)
	s.caughtUp.Store(true)
	ctx := context.Background()
	slow := structs.TaskDefinition{Family: "slow", ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "app", Image: "img", StopTimeout: 45}, {Name: "side", Image: "img", StopTimeout: 5}}}
	if _, err := s.c.Commit(ctx, fsm.CmdRegisterTaskDefinition, fsm.RegisterTaskDefinition{TaskDefinition: slow}); err != nil {
		t.Fatal(err)
	}
	s.place(t, "plain")
	if _, err := s.c.Commit(ctx, fsm.CmdCommitPlan, fsm.CommitPlan{Place: []structs.Task{{ID: "slow", Service: "slow",
		TaskDefinition: "slow:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both running", func() bool {
		st := s.c.FSM.State()
		return st.Task("plain").LastStatus == structs.StatusRunning && st.Task("slow").LastStatus == structs.StatusRunning
	})
	// A task whose containers run although it never reported RUNNING: its
	// start has just ended and its report is not in yet. It is in the
	// state before its containers are, so that the runner never takes
	// them for a stranger's and removes them.
	if _, err := s.c.Commit(ctx, fsm.CmdCommitPlan, fsm.CommitPlan{Place: []structs.Task{{ID: "fresh", Service: "web",
		TaskDefinition: "web:1", Node: "n1", DesiredStatus: structs.StatusStopped, LastStatus: structs.StatusPending}},
		Stop: []fsm.TaskStop{{ID: "plain", Reason: "scaled down"}, {ID: "slow", Reason: "scaled down"}}}); err != nil {
		t.Fatal(err)
	}
	fresh := &structs.Task{ID: "fresh", Service: "web", TaskDefinition: "web:1", Node: "n1"}
	if err := fake.Start(ctx, runtime.TaskSpec{Task: fresh, Def: &slow, Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three stops", func() bool { return g.of("plain") != 0 && g.of("slow") != 0 && g.of("fresh") != 0 })
	for id, want := range map[string]time.Duration{"plain": stopTimeout, "slow": 45 * time.Second, "fresh": unstartedGrace} {
		if got := g.of(id); got != want {
			t.Errorf("%s stopped with %s to exit, want %s", id, got, want)
		}
	}
}
