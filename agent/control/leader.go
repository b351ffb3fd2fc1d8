package control

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/raft"
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

// term is what a leader remembers while it leads. A new term starts empty,
// which only resets backoffs.
type term struct {
	// ctx ends with the term; nothing is planned or committed for a term
	// whose ctx has ended, even while its loops are still returning.
	ctx     context.Context
	backoff map[string]*backoff // by service
	counted map[string]bool     // failed task ids already counted
	settled map[string]settled  // by service
}

// settled is what the leader knows of a service whose plan it committed
// whole: the index of the state it planned from, and the moment from which
// the passing of time alone (a pending timeout, the end of a backoff, a
// failure count to reset) could change the plan. Before then, while no
// entry has changed the service, its tasks or any node, planning it again
// would make the same empty plan, so reconcile passes over it; with a
// million tasks that pass is most of the leader's work.
type settled struct {
	index uint64
	until time.Time
}

type backoff struct {
	failures int
	next     time.Time
}

// lead runs one leader term until ctx ends: the Barrier first, so that the
// new leader never schedules from a state older than what earlier leaders
// committed, then the reconcile and membership loops.
func (c *ControlPlane) lead(ctx context.Context) {
	for wait := 100 * time.Millisecond; ; wait = min(wait*2, 5*time.Second) {
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.raft.Barrier(bctx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("barrier for the new term failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	c.log.Info("leading the cluster")
	c.planMu.Lock()
	c.term = &term{ctx: ctx, backoff: map[string]*backoff{}, counted: map[string]bool{}, settled: map[string]settled{}}
	c.planMu.Unlock()
	defer func() {
		c.planMu.Lock()
		c.term = nil
		c.planMu.Unlock()
	}()
	done, elected := make(chan struct{}), make(chan struct{})
	go func() { defer close(done); c.membershipLoop(ctx) }()
	go func() { defer close(elected); c.recordElection(ctx) }()
	c.reconcileLoop(ctx)
	<-done
	<-elected
}

// recordElection records the new term's leader among the cluster's
// events, beside the term's other loops. The event is advisory: it is
// tried a few times, since a server's gossip may not yet say that it
// knows the command, and a cluster with a server too old to skip it goes
// on without it.
func (c *ControlPlane) recordElection(ctx context.Context) {
	const attempts = 5
	for i := 1; ; i++ {
		name := c.cfg.ID
		if n := c.state.State().Node(c.cfg.ID); n != nil && n.Name != "" {
			name = n.Name
		}
		ev := structs.Event{Kind: structs.EventLeaderElected, Node: c.cfg.ID, Time: time.Now().UnixMilli(), Message: "node " + name + " was elected leader"}
		_, err := c.commit.Commit(ctx, fsm.CmdRecordEvent|fsm.IgnoreUnknownFlag, fsm.RecordEvent{Event: ev})
		if err == nil || ctx.Err() != nil {
			return
		}
		if i == attempts {
			c.log.Info("leader election not recorded among the events", "err", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// reconcileLoop reconciles after every state change (a user's write, a
// node's report, a node marked down all change it) and once a second for
// backoffs that expire.
func (c *ControlPlane) reconcileLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	// collected is the index up to which garbage collection has looked at
	// every service's stopped tasks; a term starts by looking at all.
	var collected uint64
	for {
		watch := c.state.Watch()
		if err := c.reconcile(ctx, &collected); err != nil && ctx.Err() == nil {
			c.log.Warn("reconcile", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-watch:
		case <-tick.C:
		}
	}
}

// reconcile brings every service to its desired count with its current
// task definition and collects old stopped tasks. Each service is planned
// and committed under planMu on its own, so that a one-off run waits for
// one service's plan at most.
func (c *ControlPlane) reconcile(ctx context.Context, collected *uint64) error {
	var errs []error
	for _, svc := range c.state.State().Services() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := c.reconcileService(ctx, svc.Name); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", svc.Name, err))
		}
	}
	errs = append(errs, c.fireSchedules(ctx), c.collectGarbage(ctx, collected), c.bootstrapACL(ctx))
	return errors.Join(errs...)
}

// bootstrapACL registers the cluster's first management token while the
// cluster has no API token at all, so that a new cluster can be managed
// from its first minute. Deleting every token brings it back.
func (c *ControlPlane) bootstrapACL(ctx context.Context) error {
	if c.cfg.BootstrapACL == nil || len(c.state.State().ACLTokens()) > 0 {
		return nil
	}
	_, err := c.commit.Commit(ctx, fsm.CmdUpsertACLToken, fsm.UpsertACLToken{Token: *c.cfg.BootstrapACL})
	return err
}

// reconcileService plans one service against the newest state and commits
// the plan.
func (c *ControlPlane) reconcileService(ctx context.Context, name string) error {
	c.planMu.Lock()
	defer c.planMu.Unlock()
	tm, err := c.current()
	if err != nil {
		return err
	}
	st := c.state.State()
	nowT := time.Now()
	if s, ok := tm.settled[name]; ok && st.ServiceChangedAt(name) <= s.index && st.NodesChangedAt() <= s.index && nowT.Before(s.until) {
		return nil
	}
	delete(tm.settled, name)
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
	// orphaned ones wait unplaced for an outside scheduler the service
	// no longer has, and stop so that the leader places replacements.
	var current, migrating, old, stale, orphaned []*structs.Task
	// until is when the passing of time alone could change this plan: a
	// pending task times out, or, while failures are counted, a running
	// task has run long enough to reset them (stable).
	until, stable := nowT.Add(time.Hour), nowT.Add(time.Hour)
	bo := tm.backoff[name]
	if bo == nil {
		bo = &backoff{}
		tm.backoff[name] = bo
	}
	for _, t := range st.TasksByService(name) {
		if t.Failed && !tm.counted[t.ID] {
			tm.counted[t.ID] = true
			bo.failures++
			delay := backoffDelay(bo.failures, svc.RestartPolicy)
			bo.next = nowT.Add(delay)
			// A service held back by its backoff looks like a slow
			// recovery from the outside; this line tells the two apart.
			c.log.Info("task failed; replacements of the service wait", "service", name, "task", t.ID, "node", t.Node,
				"reason", t.StopReason, "failures", bo.failures, "wait", delay)
		}
		if t.DesiredStatus != structs.StatusRunning {
			continue
		}
		if t.LastStatus == structs.StatusRunning && t.StartedAt > 0 {
			if at := time.UnixMilli(t.StartedAt).Add(stableAfter); !nowT.Before(at) {
				bo.failures = 0
			} else {
				stable = minTime(stable, at)
			}
		}
		// An unplaced task waits for its outside scheduler for as long
		// as that takes: it has no node whose engine could hang.
		if t.LastStatus == structs.StatusPending && t.CreatedAt > 0 && !t.Unplaced() {
			until = minTime(until, time.UnixMilli(t.CreatedAt).Add(c.cfg.PendingTimeout))
		}
		switch n := st.Node(t.Node); {
		case t.Unplaced() && !svc.IsExternal():
			orphaned = append(orphaned, t)
		case t.LastStatus == structs.StatusPending && t.CreatedAt > 0 && nowT.Sub(time.UnixMilli(t.CreatedAt)) >= c.cfg.PendingTimeout && !t.Unplaced():
			// Stopped and not counted, so that a replacement is placed
			// now; the node stops whatever it started late.
			stale = append(stale, t)
		case isOld(t, svc):
			old = append(old, t)
		case n != nil && n.Eligibility != structs.EligibilityEligible:
			migrating = append(migrating, t)
		default:
			current = append(current, t)
		}
	}
	plan := fsm.CommitPlan{At: nowT.UnixMilli()}
	releasing := map[string]bool{}
	for _, t := range stale {
		plan.Stop = append(plan.Stop, fsm.TaskStop{ID: t.ID, Reason: fmt.Sprintf("did not start within %s; placed again", c.cfg.PendingTimeout)})
		releasing[t.ID] = true
	}
	for _, t := range orphaned {
		plan.Stop = append(plan.Stop, fsm.TaskStop{ID: t.ID, Reason: "the service's scheduler is no longer external; placed by the leader"})
	}
	if svc.IsDaemon() {
		// A daemon does not roll: each node's old task stops as its new
		// one is placed on the same node.
		for _, t := range old {
			plan.Stop = append(plan.Stop, fsm.TaskStop{ID: t.ID, Reason: "replaced by " + svc.TaskDefinition})
			releasing[t.ID] = true
		}
		return c.reconcileDaemon(ctx, tm, daemonRound{st: st, svc: svc, td: td, now: nowT, plan: plan, releasing: releasing,
			current: current, migrating: migrating, backoff: bo, until: until, stable: stable})
	}
	extra := len(current) - svc.DesiredCount
	if r, _ := structs.MoveOf(current); r != nil {
		// A rebalance move's two tasks count as one; should the service
		// scale down, its replacement, the newest task, goes first.
		extra--
	}
	if extra > 0 {
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
	// A rebalance move under way counts as one task; once its
	// replacement is healthy the task it replaces stops.
	mstop, current, muntil := c.moveStep(st, svc, td, current, nowT)
	if mstop != nil {
		plan.Stop = append(plan.Stop, *mstop)
		releasing[mstop.ID] = true
	}
	until = minTime(until, muntil)
	// Old tasks stop, and new ones start, as the service's deployment
	// allows; a deployment that rolls back changes the service, which
	// plans it again.
	ro := c.roll(st, svc, td, current, old, nowT)
	if ro.update != nil {
		// A record that fails to commit (a server too old to apply it,
		// say) leaves the rollout's bounds as they are; a rollback does
		// not happen without its record.
		_, err := c.commit.Commit(ctx, fsm.CmdUpdateDeployment, *ro.update)
		switch {
		case err != nil && (ro.update.Rollback != nil || ctx.Err() != nil):
			return err
		case err != nil:
			c.log.Warn("deployment not recorded", "service", name, "deployment", ro.update.Deployment.ID, "err", err)
		case ro.update.Rollback != nil:
			c.log.Warn("deployment failed; rolling back", "service", name, "reason", ro.update.Deployment.Reason)
			return nil
		default:
			logDeployment(c.log, svc, &ro.update.Deployment)
		}
	}
	for _, s := range ro.stop {
		plan.Stop = append(plan.Stop, s)
		releasing[s.ID] = true
	}
	until = minTime(until, ro.until)
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
	if bo.failures > 0 {
		until = minTime(until, stable)
	}
	// The verdict is recorded only when it changes. While the service
	// backs off, the last verdict stands. A plan that places fewer tasks
	// than are missing depends on room that other services' tasks may
	// free, so its service is planned again on every pass.
	missing, whole := min(svc.DesiredCount-len(current), ro.room), true
	var wait *structs.PlacementFailure
	var unplaced []structs.Task
	if missing > 0 {
		wait = waitingFor(st, svc, td, missing)
	}
	switch {
	case missing > 0 && nowT.Before(bo.next):
		until = minTime(until, bo.next)
	case missing > 0 && wait != nil:
		// A service waiting for another is planned on every pass, as
		// one short of room is: the entries that change its
		// dependencies' tasks do not change it.
		whole = false
		if !reflect.DeepEqual(wait, svc.PlacementFailure) {
			c.log.Info("service waits for a service it depends on", "service", name, "reason", wait.String())
			plan.Outcomes = []fsm.PlacementOutcome{{Service: name, Failure: wait}}
		}
	case missing > 0 && svc.IsExternal():
		// An outside scheduler places this service's tasks: the leader
		// only keeps the count, with tasks that wait unplaced.
		for range missing {
			unplaced = append(unplaced, structs.Task{ID: newTaskID(), Service: name, TaskDefinition: td.Ref(), Cluster: svc.Cluster})
		}
		if svc.PlacementFailure != nil {
			plan.Outcomes = []fsm.PlacementOutcome{{Service: name}}
		}
	case missing > 0:
		p := c.place(st, scheduler.Job{Service: name, TaskDef: td, Count: missing, Strategy: svc.PlacementStrategy,
			Constraints: svc.PlacementConstraints, Releasing: releasing, Seed: st.Index(), Preferred: dataNodes(st, name, td, current, missing),
			Cluster: svc.Cluster})
		plan.Place = tasksFor(p, td, name, svc.Cluster)
		whole = len(plan.Place) == missing
		for _, pl := range p.Placements {
			if pl.Note != "" {
				c.log.Warn("task placed away from its data", "service", name, "reason", pl.Note)
			}
		}
		if !reflect.DeepEqual(p.Failure, svc.PlacementFailure) {
			if p.Failure != nil {
				c.log.Warn("placement failed", "service", name, "reason", p.Failure.String())
			}
			plan.Outcomes = []fsm.PlacementOutcome{{Service: name, Failure: p.Failure}}
		}
	case svc.PlacementFailure != nil:
		plan.Outcomes = []fsm.PlacementOutcome{{Service: name}}
	}
	if whole && len(plan.Place) == 0 && len(plan.Stop) == 0 && len(plan.Outcomes) == 0 && len(old) == 0 && len(migrating) == 0 &&
		!nowT.Before(bo.next) {
		// Nothing else to do: the service may move a task toward an
		// even spread. The move changes the service, which plans it
		// again.
		moved, wait, err := c.startMove(ctx, st, svc, td, current, nowT)
		if moved || err != nil {
			return err
		}
		until = minTime(until, wait)
	}
	if err := c.commitPlan(ctx, plan); err != nil {
		return err
	}
	for len(unplaced) > 0 {
		n := min(len(unplaced), fsm.MaxTasksPerEntry)
		if _, err := c.commit.Commit(ctx, fsm.CmdPlaceTasks, fsm.PlaceTasks{New: unplaced[:n], At: nowT.UnixMilli()}); err != nil {
			return err
		}
		unplaced = unplaced[n:]
	}
	if whole {
		tm.settled[name] = settled{index: st.Index(), until: until}
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// commitPlan commits a plan in entries of at most fsm.MaxTasksPerEntry
// placements and stops each, the outcomes with the first. Callers hold
// planMu, so committing a plan in parts is safe: no other plan can
// interleave.
func (c *ControlPlane) commitPlan(ctx context.Context, plan fsm.CommitPlan) error {
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
		if _, err := c.commit.Commit(ctx, fsm.CmdCommitPlan, part); err != nil {
			return err
		}
		plan.Place, plan.Stop = plan.Place[len(part.Place):], plan.Stop[len(part.Stop):]
	}
	return nil
}

// current returns the running term, or raft.ErrNotLeader when there is
// none or it is ending. Callers hold planMu.
func (c *ControlPlane) current() (*term, error) {
	if c.term == nil || c.term.ctx.Err() != nil {
		return nil, raft.ErrNotLeader
	}
	return c.term, nil
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

// dataNodes lists the nodes a service's new tasks should go back to: those
// of its tasks, newest first, whose definitions had a volume of the same
// name that keeps its data on the node (shared, or a host path), leaving
// out the nodes where a current task runs, which already uses that data.
// At most count are listed.
func dataNodes(st *fsm.State, service string, td *structs.TaskDefinition, current []*structs.Task, count int) []string {
	sticky := td.StickyVolumes()
	if len(sticky) == 0 {
		return nil
	}
	taken := map[string]bool{}
	for _, t := range current {
		taken[t.Node] = true
	}
	var had []*structs.Task
	for _, t := range st.TasksByService(service) {
		if taken[t.Node] {
			continue
		}
		if d := st.TaskDefinition(t.TaskDefinition); d != nil && sharesVolume(d, sticky) {
			had = append(had, t)
		}
	}
	sort.Slice(had, func(i, j int) bool {
		if had[i].CreatedAt != had[j].CreatedAt {
			return had[i].CreatedAt > had[j].CreatedAt
		}
		return had[i].ID < had[j].ID
	})
	var out []string
	for _, t := range had {
		if len(out) == count {
			break
		}
		if !taken[t.Node] {
			taken[t.Node] = true
			out = append(out, t.Node)
		}
	}
	return out
}

// sharesVolume reports whether d has a volume named in names that keeps
// its data on the node.
func sharesVolume(d *structs.TaskDefinition, names []string) bool {
	for _, n := range d.StickyVolumes() {
		if slices.Contains(names, n) {
			return true
		}
	}
	return false
}

// tasksFor turns placements into new tasks of a pool.
func tasksFor(p scheduler.Plan, td *structs.TaskDefinition, service, cluster string) []structs.Task {
	out := make([]structs.Task, 0, len(p.Placements))
	for _, pl := range p.Placements {
		out = append(out, structs.Task{ID: newTaskID(), Service: service, TaskDefinition: td.Ref(), Node: pl.Node,
			DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending, CPU: td.CPU(), MemoryMiB: td.MemoryMiB(),
			HostPorts: pl.HostPorts, GPUs: pl.GPUs, PlacementNote: pl.Note, Cluster: cluster})
	}
	return out
}

// newTaskID returns a version 7 UUID: it starts with the time in
// milliseconds and counts up within this process, so that the tasks of one
// plan sit side by side in the state store's trees. A write then clones a
// few nodes of each tree, at the right edge, instead of one node per task
// scattered over the whole tree, which is what made a large state slow to
// grow. Its last 62 bits are random, so ids stay unique across leaders.
func newTaskID() string { return uuid.Must(uuid.NewV7()).String() }

// collectGarbage deletes stopped tasks beyond the ones kept for history.
// It looks only at the services (and, under "", the one-off tasks) that
// entries after *collected changed, and moves *collected on once their
// surplus is deleted.
func (c *ControlPlane) collectGarbage(ctx context.Context, collected *uint64) error {
	st := c.state.State()
	stopped := map[string][]*structs.Task{}
	for _, svc := range st.ServicesChangedAfter(*collected) {
		tasks := st.TasksByService(svc)
		if svc == "" {
			tasks = st.OneOffTasks()
		}
		for _, t := range tasks {
			if t.Terminal() {
				stopped[svc] = append(stopped[svc], t)
			}
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
		}
	}
	if len(del) == 0 {
		*collected = st.Index()
		return nil
	}
	c.planMu.Lock()
	if c.term != nil {
		for _, id := range del {
			delete(c.term.counted, id)
		}
	}
	c.planMu.Unlock()
	for len(del) > 0 {
		n := min(len(del), fsm.MaxTasksPerEntry)
		if _, err := c.commit.Commit(ctx, fsm.CmdDeleteTasks, fsm.DeleteTasks{IDs: del[:n]}); err != nil {
			return err
		}
		del = del[n:]
	}
	*collected = st.Index()
	return nil
}

// Run says where one-off tasks go: Count tasks placed by the scheduler,
// or, when Nodes is set, one task on each node it names by id, as ECS's
// StartTask does. Either way only nodes of Cluster are considered.
type Run struct {
	Count   int
	Nodes   []string
	Cluster string
}

// RunTasks registers the definition (or reuses an identical newest
// revision) and places one-off tasks. Only the leader can; the failure
// explains tasks it could not place. A run on named nodes is all or
// nothing: when one of them cannot take its task, nothing is placed and
// the error is a *structs.PlacementError with the scheduler's
// explanation, checked before the definition is registered and again
// inside the state machine when the tasks commit.
func (c *ControlPlane) RunTasks(ctx context.Context, td *structs.TaskDefinition, run Run) ([]*structs.Task, *structs.PlacementFailure, error) {
	c.planMu.Lock()
	defer c.planMu.Unlock()
	tm, err := c.current()
	if err != nil {
		return nil, nil, err
	}
	if len(run.Nodes) > 0 {
		if p := scheduler.PlaceOn(c.state.State(), scheduler.Job{TaskDef: td, Cluster: run.Cluster}, run.Nodes); p.Failure != nil {
			p.Failure.TaskDefinition = td.Family
			return nil, nil, &structs.PlacementError{Failure: p.Failure}
		}
	}
	// The run's commits end with the term too, so that a plan made in a
	// term never commits in the next one.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(tm.ctx, cancel)()
	res, err := c.commit.Commit(ctx, fsm.CmdRegisterTaskDefinition, fsm.RegisterTaskDefinition{TaskDefinition: *td})
	if err != nil {
		return nil, nil, err
	}
	st := c.state.State()
	def := st.TaskDefinition(res.(string))
	var tasks []structs.Task
	var failure *structs.PlacementFailure
	if len(run.Nodes) > 0 {
		for _, n := range run.Nodes {
			tasks = append(tasks, structs.Task{ID: newTaskID(), TaskDefinition: def.Ref(), Node: n, Cluster: run.Cluster})
		}
		if _, err := c.commit.Commit(ctx, fsm.CmdPlaceTasks, fsm.PlaceTasks{New: tasks, At: time.Now().UnixMilli()}); err != nil {
			return nil, nil, err
		}
	} else {
		p := c.place(st, scheduler.Job{TaskDef: def, Count: run.Count, Seed: st.Index(), Cluster: run.Cluster})
		tasks, failure = tasksFor(p, def, "", run.Cluster), p.Failure
		if err := c.commitPlan(ctx, fsm.CommitPlan{Place: tasks, At: time.Now().UnixMilli()}); err != nil {
			return nil, nil, err
		}
	}
	st = c.state.State()
	out := make([]*structs.Task, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, st.Task(t.ID))
	}
	return out, failure, nil
}

// PlaceTask gives a node to an unplaced task of a service that an outside
// scheduler places. It holds planMu, so that the placement never lands
// between one of the leader's own plans and its commit; the state machine
// checks it as it checks a run on named nodes, and refuses a task that is
// already placed, so that a placement retried after a lost answer cannot
// place a task twice.
func (c *ControlPlane) PlaceTask(ctx context.Context, id, node string) (*structs.Task, error) {
	c.planMu.Lock()
	defer c.planMu.Unlock()
	tm, err := c.current()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(tm.ctx, cancel)()
	if _, err := c.commit.Commit(ctx, fsm.CmdPlaceTasks, fsm.PlaceTasks{Assign: []fsm.TaskPlacement{{ID: id, Node: node}}, At: time.Now().UnixMilli()}); err != nil {
		return nil, err
	}
	return c.state.State().Task(id), nil
}

// place asks the scheduler for a plan, and tells the observer how it went.
func (c *ControlPlane) place(st *fsm.State, job scheduler.Job) scheduler.Plan {
	return c.observe(func() scheduler.Plan { return scheduler.Place(st, job) })
}

// observe runs a scheduler call and tells the observer, if any, how long
// it took and what it placed and left out.
func (c *ControlPlane) observe(plan func() scheduler.Plan) scheduler.Plan {
	start := time.Now()
	p := plan()
	if c.cfg.Observer != nil {
		unplaced := 0
		if p.Failure != nil {
			unplaced = p.Failure.Count
		}
		c.cfg.Observer.ObservePlan(time.Since(start), len(p.Placements), unplaced)
	}
	return p
}

// waitingFor is why the service's missing tasks wait for a service it
// depends on, or nil when every dependency has its desired count of tasks
// in the state the dependency's condition asks for: running; running with
// every essential container that has a health check healthy; or stopped
// with every essential container's exit code 0. Each placement of the
// service's tasks waits so, replacements included.
func waitingFor(st *fsm.State, svc *structs.Service, td *structs.TaskDefinition, missing int) *structs.PlacementFailure {
	for _, d := range svc.DependsOn {
		if why := dependencyWait(st, d); why != "" {
			return &structs.PlacementFailure{Count: missing, TaskDefinition: td.Ref(), CPU: td.CPU(), MemoryMiB: td.MemoryMiB(),
				Reasons: []structs.PlacementReason{{Kind: structs.ReasonDependency, Detail: why}}}
		}
	}
	return nil
}

// dependencyWait says what the dependency lacks, or "" when it is ready.
func dependencyWait(st *fsm.State, d structs.ServiceDependency) string {
	dep := st.Service(d.Service)
	if dep == nil {
		return fmt.Sprintf("waiting for service %s, which does not exist", d.Service)
	}
	def := st.TaskDefinition(dep.TaskDefinition)
	ready := 0
	for _, t := range st.TasksByService(d.Service) {
		if t.TaskDefinition == dep.TaskDefinition && taskReady(t, def, d.Condition) {
			ready++
		}
	}
	if ready >= dep.DesiredCount {
		return ""
	}
	state := map[string]string{structs.ConditionStarted: "running", structs.ConditionHealthy: "healthy",
		structs.ConditionCompletedSuccessfully: "completed successfully"}[d.Condition]
	if d.Condition == structs.ConditionHealthy && def != nil && !hasHealthCheck(def) {
		return fmt.Sprintf("waiting for service %s to be healthy, which it never will: it has no health check", d.Service)
	}
	return fmt.Sprintf("waiting for service %s to be %s (%d of %d tasks)", d.Service, state, ready, dep.DesiredCount)
}

func taskReady(t *structs.Task, def *structs.TaskDefinition, condition string) bool {
	switch condition {
	case structs.ConditionStarted:
		return t.DesiredStatus == structs.StatusRunning && t.LastStatus == structs.StatusRunning
	case structs.ConditionHealthy:
		if def == nil || !hasHealthCheck(def) || t.DesiredStatus != structs.StatusRunning || t.LastStatus != structs.StatusRunning {
			return false
		}
		return essentialsAre(t, def, func(cd *structs.ContainerDefinition, cs *structs.ContainerState) bool {
			return cd.HealthCheck == nil || cs.Health == "healthy"
		})
	case structs.ConditionCompletedSuccessfully:
		if def == nil || t.LastStatus != structs.StatusStopped {
			return false
		}
		return essentialsAre(t, def, func(_ *structs.ContainerDefinition, cs *structs.ContainerState) bool {
			return cs.ExitCode != nil && *cs.ExitCode == 0
		})
	}
	return false
}

// essentialsAre reports whether every essential container of the task is
// reported and passes ok.
func essentialsAre(t *structs.Task, def *structs.TaskDefinition, ok func(*structs.ContainerDefinition, *structs.ContainerState) bool) bool {
	for i := range def.ContainerDefinitions {
		cd := &def.ContainerDefinitions[i]
		if !cd.IsEssential() {
			continue
		}
		j := slices.IndexFunc(t.Containers, func(cs structs.ContainerState) bool { return cs.Name == cd.Name })
		if j < 0 || !ok(cd, &t.Containers[j]) {
			return false
		}
	}
	return true
}

func hasHealthCheck(def *structs.TaskDefinition) bool {
	return slices.ContainsFunc(def.ContainerDefinitions, func(cd structs.ContainerDefinition) bool { return cd.IsEssential() && cd.HealthCheck != nil })
}
