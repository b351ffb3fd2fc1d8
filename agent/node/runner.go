// Package node runs this host's share of the cluster: it registers the
// node, makes the local container engine match the tasks the replicated
// state assigns to it, adopts what already runs after a restart, and
// reports task status changes in batches. It is the node side of an agent,
// kept apart from the control plane (the leader's and the cluster's loops)
// as a Nomad client is from its servers; it never schedules and never
// changes Raft membership.
package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// How long the runner gives the engine for one start or stop, and how many
// starts it runs at once: the engine creates containers faster a few at a
// time than all at once. After engineFailures listings in a row fail, the
// node reports its engine unreachable, and the leader moves its tasks.
const (
	startTimeout = 5 * time.Minute
	stopTimeout  = 30 * time.Second
	// unstartedGrace is how long a task that never reported RUNNING gets
	// to exit after SIGTERM, in place of its containers' stopTimeout:
	// nothing in it has begun to serve, and a program that is PID 1 of
	// its container ignores a SIGTERM that comes before it has set up its
	// handler, so a stop right after a start would otherwise wait out the
	// whole stopTimeout.
	unstartedGrace    = 2 * time.Second
	maxParallelStarts = 4
	engineFailures    = 3
	minPassGap        = 100 * time.Millisecond
)

// Config configures a Runner.
type Config struct {
	// Node is what this node registers about itself: id, name, addresses,
	// resources, attributes and port range.
	Node    structs.Node
	Runtime runtime.Runtime
	Replica fsm.Replica
	// Committer commits through the leader when this agent follows.
	Committer fsm.Committer
	// CaughtUp reports whether the replica holds at least what the local
	// log held at start; before that the runner does nothing, because a
	// half-replayed state would make it remove containers of tasks not yet
	// replayed.
	CaughtUp func() bool
	// HasLeader reports whether a leader is known, so that registration
	// is not attempted in vain.
	HasLeader func() bool
	// Resync is how often the runner re-reads the engine even when nothing
	// announced a change.
	Resync time.Duration
	// QuietResync is how often it re-reads the engine instead while there
	// is nothing to catch up on: the runtime announces its changes, the
	// last pass read the engine and reported everything, the node's
	// registration is in the state and no engine operation is under way.
	// Each change then wakes a pass at once, so the re-read is only a
	// safety net. Zero means Resync.
	QuietResync time.Duration
	Logger      *slog.Logger
	// Secrets opens the secrets tasks read when they start; without it a
	// task that reads one fails to start, saying so.
	Secrets Opener
	// DiskUsedPercent, when set, is how full the disk of the engine's
	// data root is, registered with the node. It must not block.
	DiskUsedPercent func() int
	// DeregistrationDelay is how long a running task of a service that is
	// asked to stop keeps running before its containers get SIGTERM. The
	// stop itself, committed through Raft, takes the task out of every
	// replica's endpoints, DNS answers and proxy pools at once; the delay
	// gives every agent time to apply it and clients time to finish the
	// requests they began, so that none is cut mid-flight. Zero stops at
	// once.
	DeregistrationDelay time.Duration
	// DNSServers are the resolvers of the containers this node starts
	// whose definitions name none: the agent's DNS server.
	DNSServers []string
}

// Runner keeps the local engine in line with the tasks assigned to this
// node. Run drives it; StopAll may be called from any goroutine.
type Runner struct {
	cfg Config
	id  string
	log *slog.Logger

	// listFailures counts the engine listings that failed in a row,
	// since firstFailure, and engineErr is what the node reports once
	// there are engineFailures of them over at least two Resyncs. Only
	// Run's goroutine touches them.
	listFailures int
	firstFailure time.Time
	engineErr    string

	mu     sync.Mutex
	busy   map[string]bool   // task ids with a start, stop or remove running; guarded by mu
	failed map[string]string // start errors not yet reported, by task id; guarded by mu
	// opSeq counts the engine operations that ended, and ended holds, by
	// task id, the count at which the task's last one ended, until a
	// listing begun after it has been read. A listing begun before an
	// operation ended may show the task as it was before (a container
	// created but not started, or not yet there), and acting on that would
	// start the task again or stop it twice. Guarded by mu.
	opSeq  uint64
	ended  map[string]uint64
	ops    sync.WaitGroup // engine operations under way
	wakeCh chan struct{}
	starts chan struct{} // bounds the starts under way at once
}

// New returns a runner; Run starts it.
func New(cfg Config) *Runner {
	return &Runner{cfg: cfg, id: cfg.Node.ID, log: cfg.Logger, busy: map[string]bool{}, failed: map[string]string{},
		ended: map[string]uint64{}, wakeCh: make(chan struct{}, 1), starts: make(chan struct{}, maxParallelStarts)}
}

func (r *Runner) wake() {
	select {
	case r.wakeCh <- struct{}{}:
	default:
	}
}

// Run keeps this node registered and its engine in line with the state
// until ctx ends, then waits for the engine operations under way.
func (r *Runner) Run(ctx context.Context) {
	defer r.ops.Wait()
	var changes <-chan struct{}
	if nt, ok := r.cfg.Runtime.(runtime.Notifier); ok {
		changes = nt.Changes(ctx, r.id)
	}
	resync := time.NewTimer(r.cfg.Resync)
	defer resync.Stop()
	// announced is whether the engine announced a change since the last
	// pass. Docker announces a container's exit before its listing shows
	// the container exited, so the pass an announcement wakes may see
	// nothing new; the re-read after it comes at Resync, not QuietResync.
	announced := false
	for {
		watch := r.cfg.Replica.Watch()
		quiet := false
		if r.cfg.CaughtUp() {
			r.register(ctx)
			err := r.sync(ctx)
			if err != nil && ctx.Err() == nil {
				r.log.Warn("node sync", "err", err)
			}
			quiet = r.register(ctx) && err == nil && changes != nil && !announced && !r.working() && !r.unreported()
		}
		announced = false
		wait := r.cfg.Resync
		if quiet && r.cfg.QuietResync > 0 {
			wait = r.cfg.QuietResync
		}
		resync.Reset(wait)
		passed := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-watch:
		case <-changes:
			announced = true
		case <-r.wakeCh:
		case <-resync.C:
		}
		// While the engine works through many starts or stops, the end of
		// each, each container event and each status report wake the
		// loop. A pass lists every container of the node, and the engine
		// lists with the CPU it starts containers with; so while
		// operations are under way, wake-ups get one pass per minPassGap,
		// not one each. With none under way a pass runs at once, so that
		// the placements that follow a service's write start without
		// delay, and the end of the last operation is reported at once.
		if wait := minPassGap - time.Since(passed); wait > 0 && r.working() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}
}

// working reports whether engine operations are under way.
func (r *Runner) working() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.busy) > 0
}

// unreported reports whether a failed start is still to be reported.
func (r *Runner) unreported() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.failed) > 0
}

// register writes this node into the state when it is missing or its
// address or resources changed, and reports whether the state holds this
// node's registration as it is. It needs a reachable leader; until one is
// there it is retried on every pass.
func (r *Runner) register(ctx context.Context) bool {
	want := r.cfg.Node
	want.EngineError = r.engineErr
	if r.cfg.DiskUsedPercent != nil {
		want.DiskUsedPercent = r.cfg.DiskUsedPercent()
	}
	if have := r.cfg.Replica.State().Node(r.id); have != nil && sameRegistration(have, &want) {
		return true
	}
	if !r.cfg.HasLeader() {
		return false
	}
	if _, err := r.cfg.Committer.Commit(ctx, fsm.CmdRegisterNode, fsm.RegisterNode{Node: want, At: now()}); err != nil {
		r.log.Debug("register node", "err", err)
		return false
	}
	return true
}

func now() int64 { return time.Now().UnixMilli() }

// sameRegistration compares what a node registers about itself. Maps are
// compared by content, so that an empty attribute set equals the nil one
// the state holds after a round trip through JSON.
func sameRegistration(a, b *structs.Node) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Address == b.Address && a.APIAddress == b.APIAddress &&
		a.CPU == b.CPU && a.MemoryMiB == b.MemoryMiB && a.GPUs == b.GPUs && a.PortMin == b.PortMin && a.PortMax == b.PortMax &&
		a.EngineError == b.EngineError && maps.Equal(a.Attributes, b.Attributes) && slices.Equal(a.AllowedHostPaths, b.AllowedHostPaths) &&
		a.AllowPrivileged == b.AllowPrivileged && slices.Equal(a.Tags, b.Tags) && a.DiskUsedPercent == b.DiskUsedPercent && a.Cluster == b.Cluster
}

// sync compares the tasks assigned to this node with what the engine runs,
// starts and stops containers, and reports status changes to the leader in
// batches.
func (r *Runner) sync(ctx context.Context) error {
	st := r.cfg.Replica.State()
	r.mu.Lock()
	listedAt := r.opSeq
	r.mu.Unlock()
	observed, err := r.cfg.Runtime.List(ctx, r.id)
	if err != nil {
		r.listFailures++
		if r.listFailures == 1 {
			r.firstFailure = time.Now()
		}
		// Failures are counted over time as well: a restarting engine's
		// event stream fails to connect every second, and each failure
		// wakes a pass, so a count alone would report an engine that is
		// back a few seconds later.
		if r.listFailures >= engineFailures && time.Since(r.firstFailure) >= 2*r.cfg.Resync && r.engineErr == "" && ctx.Err() == nil {
			r.engineErr = err.Error()
			r.log.Error("the container engine does not answer; reporting it, so that this node's tasks are placed elsewhere", "err", err)
		}
		return err
	}
	if r.engineErr != "" {
		r.log.Info("the container engine answers again")
	}
	r.listFailures, r.engineErr = 0, ""
	byID := make(map[string]*runtime.Observed, len(observed))
	for i := range observed {
		byID[observed[i].TaskID] = &observed[i]
	}
	var updates []fsm.TaskStatusUpdate
	report := func(t *structs.Task, status, reason string, cs []structs.ContainerState) {
		if status == t.LastStatus && reflect.DeepEqual(cs, t.Containers) {
			return
		}
		updates = append(updates, fsm.TaskStatusUpdate{ID: t.ID, Node: r.id, LastStatus: status, Containers: cs, StopReason: reason, At: now()})
	}
	r.mu.Lock()
	// An operation that ended after the listing began is judged by the
	// next pass, which its end wakes; those that ended before are in this
	// listing and need not be remembered any more.
	for id, seq := range r.ended {
		if seq <= listedAt {
			delete(r.ended, id)
		}
	}
	// A failed start of a task that ended meanwhile (the leader marked it
	// LOST, or it was deleted) is never reported, so it is forgotten.
	for id := range r.failed {
		if t := st.Task(id); t == nil || t.Node != r.id || t.Terminal() {
			delete(r.failed, id)
		}
	}
	for _, t := range st.TasksByNode(r.id) {
		o := byID[t.ID]
		delete(byID, t.ID)
		if r.busy[t.ID] || r.ended[t.ID] != 0 {
			continue
		}
		var cs []structs.ContainerState
		if o != nil {
			cs = o.Containers
		}
		switch {
		case t.Terminal():
			if anyRunning(cs) {
				r.stopTask(ctx, t.ID, stopGrace(st, t))
			}
		case t.DesiredStatus == structs.StatusStopped:
			if anyRunning(cs) {
				r.deregisterAndStop(ctx, t, stopGrace(st, t))
			} else {
				report(t, structs.StatusStopped, t.StopReason, cs)
			}
		case r.failed[t.ID] != "":
			report(t, structs.StatusStopped, r.failed[t.ID], cs)
		case o == nil && t.LastStatus == structs.StatusPending:
			r.startTask(ctx, st, t, false)
		case o == nil:
			report(t, structs.StatusStopped, "the task's containers disappeared from the engine", nil)
		default:
			td := st.TaskDefinition(t.TaskDefinition)
			if td == nil {
				continue
			}
			status, reason := runtime.TaskStatus(td, cs)
			switch {
			case status == structs.StatusStopped && anyRunning(cs):
				// Stop the rest first; the next pass reports the task
				// stopped with every container's exit code. What the
				// containers show now (an exit, a failing health check)
				// is reported at once, so that the task leaves its
				// service's endpoints without waiting out the stop.
				r.failed[t.ID] = reason
				if t.LastStatus == structs.StatusRunning {
					report(t, t.LastStatus, "", cs)
				}
				r.stopTask(ctx, t.ID, stopGrace(st, t))
			case status == structs.StatusPending && t.LastStatus == structs.StatusPending:
				// Containers exist but no start is under way: an earlier
				// start was interrupted by a crash. Remove the leftovers
				// and begin again.
				r.startTask(ctx, st, t, true)
			default:
				report(t, status, reason, cs)
			}
		}
	}
	// Containers of tasks that are gone from the state, or were never this
	// node's, are removed.
	for id := range byID {
		if !r.busy[id] && r.ended[id] == 0 {
			r.removeTask(ctx, id)
		}
	}
	r.mu.Unlock()
	for len(updates) > 0 {
		batch := updates[:batchLen(updates)]
		if _, err := r.cfg.Committer.Commit(ctx, fsm.CmdUpdateTaskStatus, fsm.UpdateTaskStatus{Updates: batch}); err != nil {
			return err
		}
		r.mu.Lock()
		for _, u := range batch {
			if u.LastStatus == structs.StatusStopped {
				delete(r.failed, u.ID)
			}
		}
		r.mu.Unlock()
		updates = updates[len(batch):]
	}
	return nil
}

// maxBatchBytes bounds the encoded size of one status batch. A follower
// forwards its batches to the leader, whose API takes at most 1 MiB in a
// body; a batch over that would be refused on every retry, for good.
const maxBatchBytes = 512 << 10

// batchLen is how many of updates go in the next batch: at most
// fsm.MaxTasksPerEntry, within maxBatchBytes, and always at least one.
func batchLen(updates []fsm.TaskStatusUpdate) int {
	size := 0
	for i, u := range updates {
		b, err := json.Marshal(u)
		if err == nil {
			size += len(b) + 1
		}
		if i == fsm.MaxTasksPerEntry || i > 0 && size > maxBatchBytes {
			return i
		}
	}
	return len(updates)
}

func anyRunning(cs []structs.ContainerState) bool {
	for _, c := range cs {
		if c.Status == runtime.StateRunning {
			return true
		}
	}
	return false
}

// op runs one engine operation for a task in the background. Callers hold
// r.mu; the task is busy until fn returns.
func (r *Runner) op(ctx context.Context, taskID string, timeout time.Duration, fn func(ctx context.Context) error, onErr func(error)) {
	r.busy[taskID] = true
	r.ops.Add(1)
	go func() {
		defer r.ops.Done()
		octx, cancel := context.WithTimeout(ctx, timeout)
		err := fn(octx)
		cancel()
		r.mu.Lock()
		delete(r.busy, taskID)
		r.opSeq++
		r.ended[taskID] = r.opSeq
		if err != nil && ctx.Err() == nil {
			onErr(err)
		}
		r.mu.Unlock()
		r.wake()
	}()
}

// startTask starts a task in the background, after removing what an
// interrupted earlier start left when leftovers is set. Callers hold r.mu.
func (r *Runner) startTask(ctx context.Context, st *fsm.State, t *structs.Task, leftovers bool) {
	td := st.TaskDefinition(t.TaskDefinition)
	if td == nil {
		r.failed[t.ID] = "task definition " + t.TaskDefinition + " is missing"
		return
	}
	// The leader places such a task only on a node that allows its host
	// paths, but this node is the one that knows its own flags.
	for _, p := range td.HostPaths() {
		if !structs.HostPathAllowed(r.cfg.Node.AllowedHostPaths, p) {
			r.failed[t.ID] = "host path " + p + " is not allowed on node " + r.cfg.Node.Name + ": start its agent with --allow-host-path " + p + " (or a prefix of it)"
			return
		}
	}
	if p := td.Privileges(); len(p) > 0 && !r.cfg.Node.AllowPrivileged {
		r.failed[t.ID] = "the task asks for " + p[0] + ", which node " + r.cfg.Node.Name + " does not allow: start its agent with --allow-privileged"
		return
	}
	spec := runtime.TaskSpec{Task: t, Def: td, Node: r.id, DNSServers: r.cfg.DNSServers}
	rt := r.cfg.Runtime
	r.log.Info("starting task", "task", t.ID, "service", t.Service, "taskDefinition", t.TaskDefinition)
	r.op(ctx, t.ID, startTimeout, func(ctx context.Context) error {
		select {
		case r.starts <- struct{}{}:
			defer func() { <-r.starts }()
		case <-ctx.Done():
			return ctx.Err()
		}
		if leftovers {
			if err := rt.Remove(ctx, r.id, t.ID); err != nil {
				return err
			}
		}
		var err error
		if spec.Secrets, spec.RegistryAuth, err = r.openSecrets(st, td); err != nil {
			return err
		}
		return rt.Start(ctx, spec)
	}, func(err error) {
		r.log.Warn("task failed to start", "task", t.ID, "err", err)
		r.failed[t.ID] = err.Error()
	})
}

// stopGrace is how long the task's containers get between SIGTERM and
// SIGKILL: the longest stopTimeout of its definition's containers (ECS's
// 30 s for one that names none), or unstartedGrace for a task that never
// reported RUNNING.
func stopGrace(st *fsm.State, t *structs.Task) time.Duration {
	if t.StartedAt == 0 {
		return unstartedGrace
	}
	grace := time.Duration(0)
	if td := st.TaskDefinition(t.TaskDefinition); td != nil {
		for _, cd := range td.ContainerDefinitions {
			grace = max(grace, time.Duration(cd.StopTimeout)*time.Second)
		}
	}
	if grace == 0 {
		grace = stopTimeout
	}
	return grace
}

// stopTask stops a task's containers in the background, giving them grace
// to exit. Callers hold r.mu.
func (r *Runner) stopTask(ctx context.Context, id string, grace time.Duration) {
	r.stopAfter(ctx, id, 0, grace)
}

// deregisterAndStop stops a task that was asked to stop. A running task of
// a service first waits out the deregistration delay: its stop has already
// taken it out of its service's endpoints, and the delay lets the cluster
// and its clients move away from it before it gets SIGTERM. Callers hold
// r.mu.
func (r *Runner) deregisterAndStop(ctx context.Context, t *structs.Task, grace time.Duration) {
	delay := time.Duration(0)
	if t.Service != "" && t.LastStatus == structs.StatusRunning {
		delay = r.cfg.DeregistrationDelay
	}
	r.stopAfter(ctx, t.ID, delay, grace)
}

// stopAfter stops a task's containers in the background after delay,
// giving them grace to exit. Callers hold r.mu.
func (r *Runner) stopAfter(ctx context.Context, id string, delay, grace time.Duration) {
	r.log.Info("stopping task", "task", id, "deregistrationDelay", delay, "grace", grace)
	r.op(ctx, id, delay+grace+10*time.Second, func(ctx context.Context) error {
		if delay > 0 {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		}
		return r.cfg.Runtime.Stop(ctx, r.id, id, grace)
	}, func(err error) { r.log.Warn("stop task", "task", id, "err", err) })
}

// removeTask removes a task's containers in the background. Callers hold
// r.mu.
func (r *Runner) removeTask(ctx context.Context, id string) {
	r.log.Info("removing containers of a task this node does not run", "task", id)
	r.op(ctx, id, stopTimeout+10*time.Second, func(ctx context.Context) error { return r.cfg.Runtime.Remove(ctx, r.id, id) },
		func(err error) { r.log.Warn("remove task", "task", id, "err", err) })
}

// StopAll stops every container this node runs, for a graceful leave, a
// few at a time as starts are.
func (r *Runner) StopAll(ctx context.Context) {
	obs, err := r.cfg.Runtime.List(ctx, r.id)
	if err != nil {
		r.log.Warn("list containers", "err", err)
		return
	}
	var wg sync.WaitGroup
	limit := make(chan struct{}, maxParallelStarts)
	for _, o := range obs {
		wg.Add(1)
		limit <- struct{}{}
		go func() {
			defer func() { <-limit; wg.Done() }()
			if err := r.cfg.Runtime.Stop(ctx, r.id, o.TaskID, stopTimeout); err != nil {
				r.log.Warn("stop task", "task", o.TaskID, "err", err)
			}
		}()
	}
	wg.Wait()
}
