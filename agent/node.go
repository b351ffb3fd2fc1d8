package agent

import (
	"context"
	"maps"
	"reflect"
	"sync"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// How long the node loop gives the engine for one start or stop.
const (
	startTimeout      = 5 * time.Minute
	stopTimeout       = 30 * time.Second
	maxParallelStarts = 4
)

// nodeState tracks the engine operations this node has under way. busy and
// failed are guarded by mu because operation goroutines finish on their own.
type nodeState struct {
	mu     sync.Mutex
	busy   map[string]bool   // task ids with a start, stop or remove running
	failed map[string]string // start errors not yet reported, by task id
	ops    sync.WaitGroup
	wakeCh chan struct{}
	// starts bounds the container starts under way at once: the engine
	// creates containers faster a few at a time than all at once.
	starts chan struct{}
}

func newNodeState() *nodeState {
	return &nodeState{busy: map[string]bool{}, failed: map[string]string{}, wakeCh: make(chan struct{}, 1),
		starts: make(chan struct{}, maxParallelStarts)}
}

func (n *nodeState) wake() {
	select {
	case n.wakeCh <- struct{}{}:
	default:
	}
}

// wait blocks until every operation goroutine has returned.
func (n *nodeState) wait() { n.ops.Wait() }

// nodeLoop keeps this node registered and makes the local engine match the
// tasks the state assigns to it. It runs on every agent, leader or not.
func (a *Agent) nodeLoop() {
	var changes <-chan struct{}
	if nt, ok := a.rt.(runtime.Notifier); ok {
		changes = nt.Changes(a.ctx, a.id)
	}
	tick := time.NewTicker(a.cfg.Resync)
	defer tick.Stop()
	// After a restart the replica starts empty and fills as Raft replays
	// the log. Acting on it before then would remove the containers of
	// tasks not yet replayed, so the loop waits until everything that was
	// in the local log at start has been applied.
	caughtUp := false
	startIndex := a.raft.Raft.LastIndex()
	for {
		watch := a.fsm.Watch()
		caughtUp = caughtUp || a.raft.Raft.AppliedIndex() >= startIndex
		if caughtUp {
			a.register()
			if err := a.syncNode(); err != nil && a.ctx.Err() == nil {
				a.log.Warn("node sync", "err", err)
			}
		}
		select {
		case <-a.ctx.Done():
			return
		case <-watch:
		case <-changes:
		case <-a.node.wakeCh:
		case <-tick.C:
		}
	}
}

// register writes this node into the state when it is missing or its
// address or resources changed. It needs a reachable leader; until one is
// there it is retried on every pass.
func (a *Agent) register() {
	want := structs.Node{ID: a.id, Name: a.cfg.Name, Address: a.raft.Addr(), APIAddress: a.HTTPAddr(), CPU: a.cfg.CPU,
		MemoryMiB: a.cfg.MemoryMiB, Attributes: a.cfg.Attributes, PortMin: a.cfg.PortMin, PortMax: a.cfg.PortMax}
	if have := a.fsm.State().Node(a.id); have != nil && sameRegistration(have, &want) {
		return
	}
	if a.raft.LeaderID() == "" {
		return
	}
	if _, err := a.write(fsm.CmdRegisterNode, fsm.RegisterNode{Node: want, At: now()}); err != nil {
		a.log.Debug("register node", "err", err)
	}
}

// sameRegistration compares what a node registers about itself. Maps are
// compared by content, so that an empty attribute set equals the nil one
// the state holds after a round trip through JSON.
func sameRegistration(a, b *structs.Node) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Address == b.Address && a.APIAddress == b.APIAddress &&
		a.CPU == b.CPU && a.MemoryMiB == b.MemoryMiB && a.PortMin == b.PortMin && a.PortMax == b.PortMax &&
		maps.Equal(a.Attributes, b.Attributes)
}

// syncNode compares the tasks assigned to this node with what the engine
// runs, starts and stops containers, and reports status changes to the
// leader in one batch.
func (a *Agent) syncNode() error {
	st := a.fsm.State()
	observed, err := a.rt.List(a.ctx, a.id)
	if err != nil {
		return err
	}
	byID := make(map[string]*runtime.Observed, len(observed))
	for i := range observed {
		byID[observed[i].TaskID] = &observed[i]
	}
	var updates []fsm.TaskStatusUpdate
	report := func(t *structs.Task, status, reason string, cs []structs.ContainerState) {
		if status == t.LastStatus && reflect.DeepEqual(cs, t.Containers) {
			return
		}
		updates = append(updates, fsm.TaskStatusUpdate{ID: t.ID, Node: a.id, LastStatus: status, Containers: cs, StopReason: reason, At: now()})
	}
	a.node.mu.Lock()
	for _, t := range st.TasksByNode(a.id) {
		o := byID[t.ID]
		delete(byID, t.ID)
		if a.node.busy[t.ID] {
			continue
		}
		var cs []structs.ContainerState
		if o != nil {
			cs = o.Containers
		}
		switch {
		case t.Terminal():
			if anyRunning(cs) {
				a.stopTask(t.ID)
			}
		case t.DesiredStatus == structs.StatusStopped:
			if anyRunning(cs) {
				a.stopTask(t.ID)
			} else {
				report(t, structs.StatusStopped, t.StopReason, cs)
			}
		case a.node.failed[t.ID] != "":
			report(t, structs.StatusStopped, a.node.failed[t.ID], cs)
		case o == nil && t.LastStatus == structs.StatusPending:
			a.startTask(st, t, false)
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
				// stopped with every container's exit code.
				a.node.failed[t.ID] = reason
				a.stopTask(t.ID)
			case status == structs.StatusPending && t.LastStatus == structs.StatusPending:
				// Containers exist but no start is under way: an earlier
				// start was interrupted by a crash. Remove the leftovers
				// and begin again.
				a.startTask(st, t, true)
			default:
				report(t, status, reason, cs)
			}
		}
	}
	// Containers of tasks that are gone from the state, or were never this
	// node's, are removed.
	for id := range byID {
		if !a.node.busy[id] {
			a.removeTask(id)
		}
	}
	a.node.mu.Unlock()
	for len(updates) > 0 {
		batch := updates[:min(len(updates), fsm.MaxTasksPerEntry)]
		if _, err := a.write(fsm.CmdUpdateTaskStatus, fsm.UpdateTaskStatus{Updates: batch}); err != nil {
			return err
		}
		a.node.mu.Lock()
		for _, u := range batch {
			if u.LastStatus == structs.StatusStopped {
				delete(a.node.failed, u.ID)
			}
		}
		a.node.mu.Unlock()
		updates = updates[len(batch):]
	}
	return nil
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
// a.node.mu; the task is busy until fn returns.
func (a *Agent) op(taskID string, timeout time.Duration, fn func(ctx context.Context) error, onErr func(error)) {
	a.node.busy[taskID] = true
	a.node.ops.Add(1)
	go func() {
		defer a.node.ops.Done()
		ctx, cancel := context.WithTimeout(a.ctx, timeout)
		err := fn(ctx)
		cancel()
		a.node.mu.Lock()
		delete(a.node.busy, taskID)
		if err != nil && a.ctx.Err() == nil {
			onErr(err)
		}
		a.node.mu.Unlock()
		a.node.wake()
	}()
}

// startTask starts a task in the background, after removing what an
// interrupted earlier start left when leftovers is set.
func (a *Agent) startTask(st *fsm.State, t *structs.Task, leftovers bool) {
	td := st.TaskDefinition(t.TaskDefinition)
	if td == nil {
		a.node.failed[t.ID] = "task definition " + t.TaskDefinition + " is missing"
		return
	}
	spec := runtime.TaskSpec{Task: t, Def: td, Node: a.id}
	a.log.Info("starting task", "task", t.ID, "service", t.Service, "taskDefinition", t.TaskDefinition)
	a.op(t.ID, startTimeout, func(ctx context.Context) error {
		select {
		case a.node.starts <- struct{}{}:
			defer func() { <-a.node.starts }()
		case <-ctx.Done():
			return ctx.Err()
		}
		if leftovers {
			if err := a.rt.Remove(ctx, a.id, t.ID); err != nil {
				return err
			}
		}
		return a.rt.Start(ctx, spec)
	}, func(err error) {
		a.log.Warn("task failed to start", "task", t.ID, "err", err)
		a.node.failed[t.ID] = err.Error()
	})
}

func (a *Agent) stopTask(id string) {
	a.log.Info("stopping task", "task", id)
	a.op(id, stopTimeout+10*time.Second, func(ctx context.Context) error { return a.rt.Stop(ctx, a.id, id, stopTimeout) },
		func(err error) { a.log.Warn("stop task", "task", id, "err", err) })
}

func (a *Agent) removeTask(id string) {
	a.log.Info("removing containers of a task this node does not run", "task", id)
	a.op(id, stopTimeout+10*time.Second, func(ctx context.Context) error { return a.rt.Remove(ctx, a.id, id) },
		func(err error) { a.log.Warn("remove task", "task", id, "err", err) })
}
