package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/scheduler"
	"github.com/skiff-run/skiff/structs"
)

// A rebalance moves a spread service's tasks toward an even spread, which
// matters once a node joins or returns: until then its tasks stay where
// they were placed. A move is two entries. MoveTask places a replacement
// that names the task it replaces; a CommitPlan stops the replaced task
// once the replacement is healthy by the deployments' gate. Both are in
// the replicated state, so that a new leader finds a move half done and
// finishes it the same way, and the replaced task keeps running until
// then, so that the service never has fewer healthy tasks than before the
// move. Apply admits one move per service at a time.

// moveStep advances the move under way among current, a service's tasks
// of its current revision on eligible nodes: once the replacement is
// healthy, and stopping the replaced task leaves minHealthy healthy tasks
// or more, it returns the stop; a replacement whose health check fails
// past the grace period is stopped instead and the replaced task stays.
// It also returns current with the pair counted once, and when the
// passing of time alone could make the replacement healthy. It changes
// nothing when no move is under way.
func (c *ControlPlane) moveStep(st *fsm.State, svc *structs.Service, td *structs.TaskDefinition, current []*structs.Task, nowT time.Time) (stop *fsm.TaskStop, rest []*structs.Task, until time.Time) {
	until = nowT.Add(time.Hour)
	repl, orig := structs.MoveOf(current)
	if repl == nil {
		return nil, current, until
	}
	grace := time.Duration(svc.HealthCheckGracePeriodSeconds) * time.Second
	if repl.StartedAt > 0 && nowT.Sub(time.UnixMilli(repl.StartedAt)) >= grace && unhealthy(repl) {
		c.log.Warn("rebalance move abandoned: the replacement is unhealthy; the task it was to replace stays", "service", svc.Name,
			"task", orig.ID, "from", nodeLabel(st, orig.Node), "to", nodeLabel(st, repl.Node), "replacement", repl.ID)
		return &fsm.TaskStop{ID: repl.ID, Reason: fmt.Sprintf("%s: unhealthy; task %s stays on node %s", structs.MoveAbandoned, orig.ID, nodeLabel(st, orig.Node))},
			slices.DeleteFunc(slices.Clone(current), func(t *structs.Task) bool { return t == repl }), until
	}
	rest = slices.DeleteFunc(slices.Clone(current), func(t *structs.Task) bool { return t == orig })
	healthy, at := taskHealthy(repl, td, c.healthyAfter(), nowT)
	if !healthy {
		if repl.LastStatus == structs.StatusRunning {
			until = minTime(until, at)
		}
		return nil, rest, until
	}
	// rest holds the replacement in the replaced task's place, so its
	// healthy tasks are those the service keeps once the replaced one
	// stops.
	minHealthy, _ := svc.DeploymentConfiguration.Bounds(svc.DesiredCount)
	kept := 0
	for _, t := range rest {
		if ok, _ := taskHealthy(t, td, c.healthyAfter(), nowT); ok {
			kept++
		}
	}
	if kept < minHealthy {
		c.log.Debug("rebalance move waits: stopping the replaced task now would leave too few healthy tasks", "service", svc.Name,
			"task", orig.ID, "replacement", repl.ID, "healthy", kept, "minimum", minHealthy)
		return nil, rest, until
	}
	c.log.Info("rebalance move done: the replacement is healthy; stopping the task it replaces", "service", svc.Name,
		"task", orig.ID, "from", nodeLabel(st, orig.Node), "to", nodeLabel(st, repl.Node), "replacement", repl.ID)
	return &fsm.TaskStop{ID: orig.ID, Reason: fmt.Sprintf("rebalanced: replaced by task %s on node %s", repl.ID, nodeLabel(st, repl.Node))}, rest, until
}

// startMove starts the next move of a service whose plan is otherwise
// empty, when it may rebalance now: it spreads, has not opted out, keeps
// no data on its nodes, runs
// its desired count of tasks of its current revision, all healthy, on
// eligible nodes, with no deployment or move under way, no backoff, and
// room for one more task under its maximumPercent. It reports whether it
// committed a move, and, while some tasks are running but not yet healthy
// by time alone, when the first of them will be. A move that cannot start is logged at debug level
// with the scheduler's reason, since most passes over a balanced service
// end there. Callers hold planMu.
func (c *ControlPlane) startMove(ctx context.Context, st *fsm.State, svc *structs.Service, td *structs.TaskDefinition, current []*structs.Task, nowT time.Time) (moved bool, wait time.Time, err error) {
	wait = nowT.Add(time.Hour)
	// A task whose volume keeps its data on the node (a shared Docker
	// volume, a host path) would leave its data behind.
	if !svc.Rebalances() || len(td.StickyVolumes()) > 0 || len(current) != svc.DesiredCount || svc.PlacementFailure != nil {
		return false, wait, nil
	}
	if n := len(svc.Deployments); n > 0 && !svc.Deployments[n-1].Terminal() {
		return false, wait, nil
	}
	if r, _ := structs.MoveOf(current); r != nil {
		return false, wait, nil
	}
	allHealthy := true
	for _, t := range current {
		if ok, at := taskHealthy(t, td, c.healthyAfter(), nowT); !ok {
			allHealthy = false
			if t.LastStatus == structs.StatusRunning {
				wait = minTime(wait, at)
			}
		}
	}
	if !allHealthy {
		return false, wait, nil
	}
	active := 0
	for _, t := range st.TasksByService(svc.Name) {
		if t.Active() {
			active++
		}
	}
	if _, maxTotal := svc.DeploymentConfiguration.Bounds(svc.DesiredCount); active+1 > maxTotal {
		c.log.Debug("no rebalance: the service's maximumPercent leaves no room for a replacement", "service", svc.Name, "active", active, "maximum", maxTotal)
		return false, wait, nil
	}
	m, why := scheduler.Rebalance(st, scheduler.Job{Service: svc.Name, TaskDef: td, Strategy: svc.PlacementStrategy,
		Constraints: svc.PlacementConstraints, Seed: st.Index(), Cluster: svc.Cluster}, current)
	if m == nil {
		c.log.Debug("no rebalance", "service", svc.Name, "reason", why)
		return false, wait, nil
	}
	p := scheduler.Plan{Placements: []scheduler.Placement{m.To}}
	repl := tasksFor(p, td, svc.Name, svc.Cluster)[0]
	repl.Replaces = m.Task
	from, to := nodeLabel(st, m.From), nodeLabel(st, m.To.Node)
	c.log.Info("rebalancing: starting a replacement on a node with fewer of the service's tasks; the task stops once it is healthy",
		"service", svc.Name, "task", m.Task, "from", from, "to", to, "replacement", repl.ID,
		"reason", fmt.Sprintf("node %s has %d tasks of the service by %s and node %s %d", from, m.FromCount, m.Over, to, m.ToCount))
	if _, err := c.commit.Commit(ctx, fsm.CmdMoveTask, fsm.MoveTask{Task: repl, At: nowT.UnixMilli()}); err != nil {
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			return false, wait, err
		}
		// A server too old to apply the move, say: the service stays as
		// it is until something changes it.
		c.log.Warn("rebalance move not started", "service", svc.Name, "task", m.Task, "err", err)
		return false, wait, nil
	}
	return true, wait, nil
}

// healthyAfter is the deployments' health gate for a task without a
// health check.
func (c *ControlPlane) healthyAfter() time.Duration {
	if c.cfg.HealthyAfter > 0 {
		return c.cfg.HealthyAfter
	}
	return defaultHealthyAfter
}

// nodeLabel names a node as people know it: its name, or its id when it
// has none or is gone.
func nodeLabel(st *fsm.State, id string) string {
	if n := st.Node(id); n != nil && n.Name != "" {
		return n.Name
	}
	return id
}
