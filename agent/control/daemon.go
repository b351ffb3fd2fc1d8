package control

import (
	"context"
	"reflect"
	"sort"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/scheduler"
	"github.com/skiff-run/skiff/structs"
)

// daemonRound is what reconcileService has worked out for a daemon
// service when it hands over: the plan with the stops of old and stale
// tasks, the tasks it releases, the tasks it sorted into current and
// migrating, and the moments from which time alone could change the plan.
type daemonRound struct {
	st                 *fsm.State
	svc                *structs.Service
	td                 *structs.TaskDefinition
	now                time.Time
	plan               fsm.CommitPlan
	releasing          map[string]bool
	current, migrating []*structs.Task
	backoff            *backoff
	until, stable      time.Time
}

// reconcileDaemon plans a daemon service: one task on every node that is
// ready, eligible and admitted by the constraints. A task on a node that
// is drained, gone, or no longer admitted just stops (there is nowhere
// else it belongs, so nothing waits for a replacement), as does a second
// task on one node; each node meant for the daemon that lacks a task gets
// one, subject to the service's backoff and dependencies as a replica's
// replacements are. A node joining or becoming eligible changes
// NodesChangedAt, which wakes a settled daemon. Callers hold planMu.
func (c *ControlPlane) reconcileDaemon(ctx context.Context, tm *term, r daemonRound) error {
	name, plan, until := r.svc.Name, r.plan, r.until
	job := scheduler.Job{Service: name, TaskDef: r.td, Constraints: r.svc.PlacementConstraints, Releasing: r.releasing, Seed: r.st.Index(),
		Cluster: r.svc.Cluster}
	stop := func(t *structs.Task, reason string) {
		plan.Stop = append(plan.Stop, fsm.TaskStop{ID: t.ID, Reason: reason})
		r.releasing[t.ID] = true
	}
	for _, t := range r.migrating {
		stop(t, "node drained; a daemon task does not move")
	}
	byNode := map[string][]*structs.Task{}
	for _, t := range r.current {
		n := r.st.Node(t.Node)
		if n == nil {
			stop(t, "node left the cluster")
			continue
		}
		if why := scheduler.Excludes(job, n); why != "" {
			stop(t, "node no longer runs the daemon: "+why)
			continue
		}
		byNode[t.Node] = append(byNode[t.Node], t)
	}
	for _, ts := range byNode {
		// One task per node: the one that runs, the oldest of those,
		// stays.
		sort.SliceStable(ts, func(i, j int) bool {
			ri, rj := ts[i].LastStatus == structs.StatusRunning, ts[j].LastStatus == structs.StatusRunning
			if ri != rj {
				return ri
			}
			return ts[i].CreatedAt < ts[j].CreatedAt
		})
		for _, t := range ts[1:] {
			stop(t, "a daemon runs one task per node")
		}
	}
	if r.backoff.failures > 0 {
		until = minTime(until, r.stable)
	}
	p := c.observe(func() scheduler.Plan { return scheduler.PlaceDaemon(r.st, job) })
	missing, whole := len(p.Placements), true
	if p.Failure != nil {
		missing += p.Failure.Count
	}
	var wait *structs.PlacementFailure
	if missing > 0 {
		wait = waitingFor(r.st, r.svc, r.td, missing)
	}
	failure := r.svc.PlacementFailure
	switch {
	case missing > 0 && r.now.Before(r.backoff.next):
		until = minTime(until, r.backoff.next)
	case wait != nil:
		whole, failure = false, wait
	case missing > 0:
		plan.Place = tasksFor(p, r.td, name, r.svc.Cluster)
		whole, failure = p.Failure == nil, p.Failure
	default:
		failure = nil
	}
	if !reflect.DeepEqual(failure, r.svc.PlacementFailure) {
		if failure != nil {
			c.log.Warn("daemon tasks not placed", "service", name, "reason", failure.String())
		}
		plan.Outcomes = []fsm.PlacementOutcome{{Service: name, Failure: failure}}
	}
	if err := c.commitPlan(ctx, plan); err != nil {
		return err
	}
	if whole {
		tm.settled[name] = settled{index: r.st.Index(), until: until}
	}
	return nil
}
