package control

import (
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/skiff-run/skiff/endpoints"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/structs"
)

// defaultHealthyAfter is how long a new task whose essential containers
// have no health check must run before it counts as healthy in a
// deployment: the same time after which it joins its service's endpoints.
const defaultHealthyAfter = endpoints.DefaultHealthyAfter

// defaultStuckAfter is how long a deployment whose new tasks cannot be
// placed may make no progress before it fails.
const defaultStuckAfter = 5 * time.Minute

// rollout is what a service's deployment allows in one plan: the old tasks
// to stop, how many new tasks may be placed (room), the deployment entry
// to commit first (nil when nothing changed), and when the passing of time
// alone could change the verdict.
type rollout struct {
	stop   []fsm.TaskStop
	room   int
	update *fsm.UpdateDeployment
	until  time.Time
}

// roll plans a service's move from old tasks (of earlier revisions, still
// wanted) to current ones within its deploymentConfiguration: no more than
// maxTotal tasks of the service active at once, counting those still
// stopping, and old tasks stop only while at least minHealthy tasks stay
// healthy. A service with no old tasks and no deployment in progress (a
// first apply, or a steady state) has unlimited room, as before
// deployments existed. roll also keeps the service's deployment record:
// it starts one when old tasks appear, updates its counts, completes it,
// and trips its circuit breaker.
func (c *ControlPlane) roll(st *fsm.State, svc *structs.Service, td *structs.TaskDefinition, current, old []*structs.Task, nowT time.Time) rollout {
	ro := rollout{room: svc.DesiredCount, until: nowT.Add(time.Hour)}
	var dep *structs.Deployment
	stored := false
	if n := len(svc.Deployments); n > 0 && svc.Deployments[n-1].To == svc.TaskDefinition && svc.Deployments[n-1].RestartedAt == svc.RestartedAt {
		d := svc.Deployments[n-1]
		dep, stored = &d, true
	}
	if len(old) == 0 && (dep == nil || dep.Terminal()) {
		return ro
	}
	if dep == nil {
		dep = &structs.Deployment{ID: uuid.NewString(), Service: svc.Name, From: fromRevision(old), To: svc.TaskDefinition,
			RestartedAt: svc.RestartedAt, State: structs.DeploymentInProgress, CreatedAt: nowT.UnixMilli()}
	}
	minHealthy, maxTotal := svc.DeploymentConfiguration.Bounds(svc.DesiredCount)
	healthyAfter := c.cfg.HealthyAfter
	if healthyAfter <= 0 {
		healthyAfter = defaultHealthyAfter
	}
	next := *dep
	next.Desired, next.Pending, next.Running, next.Healthy, next.OldRunning = svc.DesiredCount, 0, 0, 0, 0
	healthyOld, active, failed, lastFailure := 0, 0, 0, ""
	for _, t := range st.TasksByService(svc.Name) {
		if t.Active() {
			active++
			if isOld(t, svc) {
				next.OldRunning++
			}
		}
		if isOld(t, svc) || t.CreatedAt < dep.CreatedAt {
			continue
		}
		switch grace := time.Duration(svc.HealthCheckGracePeriodSeconds) * time.Second; {
		case t.Failed:
			failed++
			lastFailure = t.StopReason
		case t.Active() && t.StartedAt > 0 && nowT.Sub(time.UnixMilli(t.StartedAt)) >= grace && unhealthy(t):
			// A failing health check counts against the deployment once
			// the grace period is over.
			failed++
			lastFailure = "task " + t.ID + " is unhealthy"
		case t.Active() && t.StartedAt > 0 && grace > 0:
			ro.until = minTime(ro.until, time.UnixMilli(t.StartedAt).Add(grace))
		}
	}
	healthyNew := 0
	for _, t := range current {
		switch healthy, at := taskHealthy(t, td, healthyAfter, nowT); {
		case healthy:
			healthyNew++
			next.Running++
		case t.LastStatus == structs.StatusRunning:
			next.Running++
			ro.until = minTime(ro.until, at)
		default:
			next.Pending++
		}
	}
	next.Healthy = healthyNew
	next.Failed = max(dep.Failed, failed)
	// Old tasks that never ran hold nothing healthy and stop first; running
	// ones stop while the healthy tasks left stay at minHealthy or more.
	sort.SliceStable(old, func(i, j int) bool {
		return old[i].LastStatus != structs.StatusRunning && old[j].LastStatus == structs.StatusRunning
	})
	for _, t := range old {
		if t.LastStatus == structs.StatusRunning {
			healthyOld++
		}
	}
	budget := healthyNew + healthyOld - minHealthy
	for _, t := range old {
		if t.LastStatus == structs.StatusRunning {
			if budget <= 0 {
				continue
			}
			budget--
		}
		ro.stop = append(ro.stop, fsm.TaskStop{ID: t.ID, Reason: "replaced by " + svc.TaskDefinition})
	}
	ro.room = max(maxTotal-active, 0)
	if !dep.Terminal() {
		enable, rollback := svc.DeploymentConfiguration.Breaker()
		threshold := min(max((svc.DesiredCount+1)/2, 3), keepStoppedPerService)
		stuckAfter := c.cfg.StuckAfter
		if stuckAfter <= 0 {
			stuckAfter = defaultStuckAfter
		}
		// A deployment is stuck when its new tasks cannot be placed and
		// nothing has moved since its record last changed.
		stuck := svc.PlacementFailure != nil && dep.UpdatedAt > 0 && !deploymentChanged(dep, &next) &&
			!nowT.Before(time.UnixMilli(dep.UpdatedAt).Add(stuckAfter))
		if svc.PlacementFailure != nil && dep.UpdatedAt > 0 {
			ro.until = minTime(ro.until, time.UnixMilli(dep.UpdatedAt).Add(stuckAfter))
		}
		switch {
		case enable && (next.Failed >= threshold || stuck):
			next.Reason = fmt.Sprintf("circuit breaker: %d tasks of %s failed (threshold %d); the last: %s", next.Failed, next.To, threshold, lastFailure)
			if stuck {
				next.Reason = fmt.Sprintf("circuit breaker: no progress for %s: %s", stuckAfter, svc.PlacementFailure)
			}
			next.State = structs.DeploymentFailed
			ro.update = &fsm.UpdateDeployment{Deployment: next}
			if rollback && !dep.Rollback && dep.From != "" && st.TaskDefinition(dep.From) != nil {
				next.State = structs.DeploymentRolledBack
				next.Reason += "; rolled back to " + dep.From
				ro.update = &fsm.UpdateDeployment{Deployment: next, Rollback: &structs.Deployment{ID: uuid.NewString(), Service: svc.Name,
					From: dep.To, To: dep.From, Rollback: true, RestartedAt: svc.RestartedAt, State: structs.DeploymentInProgress, UpdatedAt: nowT.UnixMilli()}}
			}
		case len(old) == 0 && next.OldRunning == 0 && healthyNew >= svc.DesiredCount:
			next.State = structs.DeploymentCompleted
		}
	}
	// An ended deployment whose old tasks still run (it failed without
	// rollback) keeps its record as it ended.
	if ro.update == nil && !dep.Terminal() && (!stored || deploymentChanged(dep, &next)) {
		ro.update = &fsm.UpdateDeployment{Deployment: next}
	}
	if ro.update != nil {
		ro.update.Deployment.UpdatedAt = nowT.UnixMilli()
	}
	return ro
}

// logDeployment logs a deployment's start and end, which are what people
// look for in the leader's log.
func logDeployment(log *slog.Logger, svc *structs.Service, d *structs.Deployment) {
	n := len(svc.Deployments)
	switch {
	case n == 0 || svc.Deployments[n-1].ID != d.ID:
		log.Info("deployment started", "service", svc.Name, "deployment", d.ID, "from", d.From, "to", d.To)
	case d.State == structs.DeploymentCompleted:
		log.Info("deployment completed", "service", svc.Name, "deployment", d.ID, "to", d.To)
	case d.State == structs.DeploymentFailed:
		log.Warn("deployment failed", "service", svc.Name, "deployment", d.ID, "reason", d.Reason)
	}
}

// deploymentChanged reports whether next says anything the stored
// deployment does not.
func deploymentChanged(stored, next *structs.Deployment) bool {
	a, b := *stored, *next
	a.UpdatedAt, b.UpdatedAt = 0, 0
	return a != b
}

// isOld reports whether a task of the service is to be replaced: it runs
// another revision, or it was created before the service's restart. Task
// and restart times are both the leader's clock at the time.
func isOld(t *structs.Task, svc *structs.Service) bool {
	return t.TaskDefinition != svc.TaskDefinition || t.CreatedAt < svc.RestartedAt
}

// fromRevision is the revision most of the old tasks run, the newest of
// those on a tie: the one a failed deployment rolls back to.
func fromRevision(old []*structs.Task) string {
	count := map[string]int{}
	newest := map[string]int64{}
	for _, t := range old {
		count[t.TaskDefinition]++
		newest[t.TaskDefinition] = max(newest[t.TaskDefinition], t.CreatedAt)
	}
	revs := make([]string, 0, len(count))
	for r := range count {
		revs = append(revs, r)
	}
	slices.SortFunc(revs, func(a, b string) int {
		if count[a] != count[b] {
			return count[b] - count[a]
		}
		if newest[a] != newest[b] {
			return int(newest[b] - newest[a])
		}
		return strings.Compare(a, b)
	})
	if len(revs) == 0 {
		return ""
	}
	return revs[0]
}

// taskHealthy reports whether a task counts as healthy in a deployment:
// running, and either every essential container with a health check
// healthy or, when none has one, running for healthyAfter. When it is
// running but not yet healthy by time alone, at is when it will be.
func taskHealthy(t *structs.Task, td *structs.TaskDefinition, healthyAfter time.Duration, nowT time.Time) (healthy bool, at time.Time) {
	healthy, at = endpoints.Healthy(t, td, healthyAfter, nowT)
	if at.IsZero() {
		// Only a health check can make the task healthy now, and its
		// report changes the state, which brings the service back.
		at = nowT.Add(time.Hour)
	}
	return healthy, at
}

// unhealthy reports whether a container of the task reports a failing
// health check.
func unhealthy(t *structs.Task) bool {
	return slices.ContainsFunc(t.Containers, func(cs structs.ContainerState) bool { return cs.Health == "unhealthy" })
}
