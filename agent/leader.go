package agent

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/scheduler"
	"github.com/skiff-run/skiff/structs"
)

// Garbage collection keeps this many stopped tasks per service (and of
// one-off tasks), newest first, so that `ps --all` shows recent history
// while the state stays bounded.
const (
	keepStoppedPerService = 10
	keepStoppedOneOff     = 100
	// stableAfter is how long a task must run before its service's failure
	// count resets.
	stableAfter       = 10 * time.Second
	defaultMaxBackoff = 30 * time.Second
)

// leaderState is what the leader remembers between reconcile passes. It is
// lost on failover, which only resets backoffs.
type leaderState struct {
	led     bool                // Barrier passed in this term
	backoff map[string]*backoff // by service
	counted map[string]bool     // failed task ids already counted
}

type backoff struct {
	failures int
	next     time.Time
}

func newLeaderState() *leaderState {
	return &leaderState{backoff: map[string]*backoff{}, counted: map[string]bool{}}
}

// leaderLoop reconciles while this agent leads: after every state change,
// every kick, and once a second for backoffs that expire.
func (a *Agent) leaderLoop() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		watch := a.fsm.Watch()
		if a.raft.IsLeader() {
			if err := a.reconcile(); err != nil && a.ctx.Err() == nil {
				a.log.Warn("reconcile", "err", err)
			}
		} else {
			a.planMu.Lock()
			if a.leader.led {
				a.leader = newLeaderState()
			}
			a.planMu.Unlock()
		}
		select {
		case <-a.ctx.Done():
			return
		case <-watch:
		case <-a.kick:
		case <-tick.C:
		}
	}
}

// reconcile brings every service to its desired count with its current
// task definition and collects old stopped tasks.
func (a *Agent) reconcile() error {
	a.planMu.Lock()
	defer a.planMu.Unlock()
	if !a.leader.led {
		// A new leader first applies everything earlier leaders committed,
		// so that it never schedules from a stale state.
		if err := a.raft.Raft.Barrier(10 * time.Second).Error(); err != nil {
			return fmt.Errorf("barrier: %w", err)
		}
		a.leader.led = true
		a.log.Info("leading the cluster")
	}
	var errs []error
	for _, svc := range a.fsm.State().Services() {
		if err := a.reconcileService(svc.Name); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", svc.Name, err))
		}
	}
	errs = append(errs, a.collectGarbage())
	return errors.Join(errs...)
}

// reconcileService plans one service against the newest state and commits
// the plan in one entry. Callers hold planMu.
func (a *Agent) reconcileService(name string) error {
	st := a.fsm.State()
	svc := st.Service(name)
	if svc == nil {
		return nil
	}
	td := st.TaskDefinition(svc.TaskDefinition)
	if td == nil {
		return fmt.Errorf("task definition %s is missing", svc.TaskDefinition)
	}
	// current tasks run the service's definition on eligible nodes;
	// migrating ones run it on drained nodes and stop once enough
	// replacements run; old ones run an earlier revision and stop now.
	var current, migrating, old []*structs.Task
	nowT := time.Now()
	bo := a.leader.backoff[name]
	if bo == nil {
		bo = &backoff{}
		a.leader.backoff[name] = bo
	}
	for _, t := range st.TasksByService(name) {
		if t.Failed && !a.leader.counted[t.ID] {
			a.leader.counted[t.ID] = true
			bo.failures++
			bo.next = nowT.Add(backoffDelay(bo.failures, svc.RestartPolicy))
		}
		if t.DesiredStatus != structs.StatusRunning {
			continue
		}
		if t.LastStatus == structs.StatusRunning && t.StartedAt > 0 && nowT.Sub(time.UnixMilli(t.StartedAt)) >= stableAfter {
			bo.failures = 0
		}
		switch n := st.Node(t.Node); {
		case t.TaskDefinition != svc.TaskDefinition:
			old = append(old, t)
		case n != nil && n.Eligibility != structs.EligibilityEligible:
			migrating = append(migrating, t)
		default:
			current = append(current, t)
		}
	}
	plan := fsm.CommitPlan{At: nowT.UnixMilli()}
	releasing := map[string]bool{}
	for _, t := range old {
		plan.Stop = append(plan.Stop, fsm.TaskStop{ID: t.ID, Reason: "replaced by " + svc.TaskDefinition})
		releasing[t.ID] = true
	}
	if extra := len(current) - svc.DesiredCount; extra > 0 {
		// Scale down the tasks that matter least: pending before running,
		// then the newest.
		sort.SliceStable(current, func(i, j int) bool {
			pi, pj := current[i].LastStatus == structs.StatusPending, current[j].LastStatus == structs.StatusPending
			if pi != pj {
				return pi
			}
			return current[i].CreatedAt > current[j].CreatedAt
		})
		for _, t := range current[:extra] {
			plan.Stop = append(plan.Stop, fsm.TaskStop{ID: t.ID, Reason: "scaled down"})
		}
		current = current[extra:]
	}
	runningCurrent := 0
	for _, t := range current {
		if t.LastStatus == structs.StatusRunning {
			runningCurrent++
		}
	}
	if runningCurrent >= svc.DesiredCount {
		for _, t := range migrating {
			plan.Stop = append(plan.Stop, fsm.TaskStop{ID: t.ID, Reason: "node drained; replacement running"})
		}
	}
	// The verdict is recorded only when it changes. While the service
	// backs off, the last verdict stands.
	missing := svc.DesiredCount - len(current)
	switch {
	case missing > 0 && nowT.Before(bo.next):
	case missing > 0:
		p := scheduler.Place(st, scheduler.Job{Service: name, TaskDef: td, Count: missing, Strategy: svc.PlacementStrategy,
			Constraints: svc.PlacementConstraints, Releasing: releasing, Seed: st.Index()})
		plan.Place = tasksFor(p, td, name)
		if !reflect.DeepEqual(p.Failure, svc.PlacementFailure) {
			if p.Failure != nil {
				a.log.Warn("placement failed", "service", name, "reason", p.Failure.String())
			}
			plan.Outcomes = []fsm.PlacementOutcome{{Service: name, Failure: p.Failure}}
		}
	case svc.PlacementFailure != nil:
		plan.Outcomes = []fsm.PlacementOutcome{{Service: name}}
	}
	return a.commitPlan(plan)
}

// commitPlan commits a plan in entries of at most fsm.MaxTasksPerEntry
// placements and stops each. The plan was computed against the newest
// state under planMu, so committing it in parts is safe: no other plan can
// interleave.
func (a *Agent) commitPlan(plan fsm.CommitPlan) error {
	if len(plan.Place) == 0 && len(plan.Stop) == 0 && len(plan.Outcomes) == 0 {
		return nil
	}
	for first := true; first || len(plan.Place) > 0 || len(plan.Stop) > 0; first = false {
		part := plan
		if !first {
			part.Outcomes = nil
		}
		part.Place = part.Place[:min(len(part.Place), fsm.MaxTasksPerEntry)]
		part.Stop = part.Stop[:min(len(part.Stop), fsm.MaxTasksPerEntry)]
		if _, err := a.write(fsm.CmdCommitPlan, part); err != nil {
			return err
		}
		plan.Place, plan.Stop = plan.Place[len(part.Place):], plan.Stop[len(part.Stop):]
	}
	return nil
}

// backoffDelay is how long to wait before replacing a service's failed
// task: nothing for the first failure, then 1s doubling up to the cap.
func backoffDelay(failures int, p structs.RestartPolicy) time.Duration {
	limit := defaultMaxBackoff
	if p.MaxBackoffSeconds > 0 {
		limit = time.Duration(p.MaxBackoffSeconds) * time.Second
	}
	if failures <= 1 {
		return 0
	}
	d := time.Second << min(failures-2, 16)
	return min(d, limit)
}

// tasksFor turns placements into new tasks.
func tasksFor(p scheduler.Plan, td *structs.TaskDefinition, service string) []structs.Task {
	out := make([]structs.Task, 0, len(p.Placements))
	for _, pl := range p.Placements {
		out = append(out, structs.Task{ID: uuid.NewString(), Service: service, TaskDefinition: td.Ref(), Node: pl.Node,
			DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending, CPU: td.CPU(), MemoryMiB: td.MemoryMiB(),
			HostPorts: pl.HostPorts})
	}
	return out
}

// collectGarbage deletes stopped tasks beyond the ones kept for history.
// Callers hold planMu.
func (a *Agent) collectGarbage() error {
	st := a.fsm.State()
	stopped := map[string][]*structs.Task{}
	for _, t := range st.Tasks() {
		if t.Terminal() {
			stopped[t.Service] = append(stopped[t.Service], t)
		}
	}
	var del []string
	for svc, ts := range stopped {
		keep := keepStoppedPerService
		if svc == "" {
			keep = keepStoppedOneOff
		}
		if len(ts) <= keep {
			continue
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].StoppedAt > ts[j].StoppedAt })
		for _, t := range ts[keep:] {
			del = append(del, t.ID)
			delete(a.leader.counted, t.ID)
		}
	}
	for len(del) > 0 {
		n := min(len(del), fsm.MaxTasksPerEntry)
		if _, err := a.write(fsm.CmdDeleteTasks, fsm.DeleteTasks{IDs: del[:n]}); err != nil {
			return err
		}
		del = del[n:]
	}
	return nil
}

// RunTasks implements api.Backend: it registers the definition (or reuses
// an identical newest revision) and places count one-off tasks.
func (a *Agent) RunTasks(_ context.Context, td *structs.TaskDefinition, count int) ([]*structs.Task, *structs.PlacementFailure, error) {
	a.planMu.Lock()
	defer a.planMu.Unlock()
	res, err := a.write(fsm.CmdRegisterTaskDefinition, fsm.RegisterTaskDefinition{TaskDefinition: *td})
	if err != nil {
		return nil, nil, err
	}
	st := a.fsm.State()
	def := st.TaskDefinition(res.(string))
	p := scheduler.Place(st, scheduler.Job{TaskDef: def, Count: count, Seed: st.Index()})
	tasks := tasksFor(p, def, "")
	if err := a.commitPlan(fsm.CommitPlan{Place: tasks, At: now()}); err != nil {
		return nil, nil, err
	}
	st = a.fsm.State()
	out := make([]*structs.Task, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, st.Task(t.ID))
	}
	return out, p.Failure, nil
}
