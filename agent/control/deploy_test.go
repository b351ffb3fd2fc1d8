package control

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/structs"
)

const testHealthyAfter = 200 * time.Millisecond

// deployRig is a leader over a real FSM, a simulated node that starts and
// stops what the leader asks, and a check of the deployment bounds after
// every plan the leader commits.
type deployRig struct {
	t  *testing.T
	mu sync.Mutex // serializes commits, so that each check sees its own entry's state
	c  *fsmtest.Committer
	// crash says which tasks the node has exit at once after they start.
	crash func(*structs.Task) bool
	// frozen holds the node's reports back while set.
	frozen bool
	// plans counts the leader's plans checked that stopped old tasks or
	// placed new ones while a deployment was under way.
	plans  int
	failed []string
	// after, when set, sees the state after every entry the rig commits,
	// with the entry's type; it runs under mu.
	after func(st *fsm.State, t fsm.CommandType)
}

func newDeployRig(t *testing.T) *deployRig {
	k := &deployRig{t: t, c: fsmtest.New(), crash: func(*structs.Task) bool { return false }}
	k.commit(fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 64 * 1024, MemoryMiB: 64 * 1024, PortMin: 1, PortMax: 2}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); k.node(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return k
}

// leader starts a control plane that commits through the rig while r
// leads.
func (k *deployRig) leader(r *fakeRaft) *ControlPlane {
	cp := New(Config{ID: "n1", BootstrapExpect: 1, Voters: 3, DownAfter: time.Hour, PromoteAfter: time.Hour, RemoveAfter: time.Hour,
		HealthyAfter: testHealthyAfter, StuckAfter: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, r, noMembers{}, k.c.FSM, rigLeader{r, k})
	run(k.t, cp)
	return cp
}

type rigLeader struct {
	r *fakeRaft
	k *deployRig
}

func (l rigLeader) Commit(ctx context.Context, t fsm.CommandType, body any) (any, error) {
	if !l.r.IsLeader() {
		return nil, raft.ErrNotLeader
	}
	return l.k.commitChecked(ctx, t, body)
}

func (k *deployRig) commit(t fsm.CommandType, body any) {
	k.t.Helper()
	if _, err := k.commitChecked(context.Background(), t, body); err != nil {
		k.t.Fatal(err)
	}
}

func (k *deployRig) commitChecked(ctx context.Context, t fsm.CommandType, body any) (any, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	res, err := k.c.Commit(ctx, t, body)
	if t == fsm.CmdUpdateDeployment && err != nil {
		k.failed = append(k.failed, "the state machine refused the leader's deployment record: "+err.Error())
	}
	if p, ok := body.(fsm.CommitPlan); ok && err == nil {
		k.checkBounds(k.c.FSM.State(), p)
	}
	if k.after != nil && err == nil {
		k.after(k.c.FSM.State(), t)
	}
	return res, err
}

// checkBounds checks the state a plan left: a plan that places tasks of a
// service in a deployment leaves at most maxTotal of its tasks active,
// and one that stops old tasks leaves at least minHealthy healthy. Callers
// hold mu.
func (k *deployRig) checkBounds(st *fsm.State, p fsm.CommitPlan) {
	for _, svc := range st.Services() {
		if len(svc.Deployments) == 0 || svc.Deployments[len(svc.Deployments)-1].Terminal() {
			continue
		}
		placed, replaced := false, false
		for _, t := range p.Place {
			placed = placed || t.Service == svc.Name
		}
		for _, s := range p.Stop {
			t := st.Task(s.ID)
			replaced = replaced || t.Service == svc.Name && (t.TaskDefinition != svc.TaskDefinition || t.CreatedAt < svc.RestartedAt)
		}
		if !placed && !replaced {
			continue
		}
		k.plans++
		minHealthy, maxTotal := svc.DeploymentConfiguration.Bounds(svc.DesiredCount)
		active, healthy := 0, 0
		for _, t := range st.TasksByService(svc.Name) {
			if t.Active() {
				active++
			}
			if t.DesiredStatus == structs.StatusRunning && t.LastStatus == structs.StatusRunning &&
				(t.TaskDefinition != svc.TaskDefinition || t.CreatedAt < svc.RestartedAt || time.Since(time.UnixMilli(t.StartedAt)) >= testHealthyAfter) {
				healthy++
			}
		}
		if placed && active > maxTotal {
			k.failed = append(k.failed, fmt.Sprintf("%s: a plan left %d tasks active, more than the maximum %d", svc.Name, active, maxTotal))
		}
		if replaced && healthy < minHealthy {
			k.failed = append(k.failed, fmt.Sprintf("%s: a plan left %d tasks healthy, fewer than the minimum %d", svc.Name, healthy, minHealthy))
		}
	}
}

// node plays every node: it starts the pending tasks, stops the ones
// asked to stop, and has the ones crash says fail exit at once.
func (k *deployRig) node(ctx context.Context) {
	for {
		watch := k.c.FSM.Watch()
		k.mu.Lock()
		frozen, crash := k.frozen, k.crash
		k.mu.Unlock()
		var ups []fsm.TaskStatusUpdate
		for _, t := range k.c.FSM.State().Tasks() {
			now := time.Now().UnixMilli()
			switch {
			case frozen || !t.Active():
			case t.DesiredStatus == structs.StatusStopped:
				ups = append(ups, fsm.TaskStatusUpdate{ID: t.ID, Node: t.Node, LastStatus: structs.StatusStopped, At: now})
			case t.LastStatus == structs.StatusPending:
				ups = append(ups, fsm.TaskStatusUpdate{ID: t.ID, Node: t.Node, LastStatus: structs.StatusRunning, At: now})
			case crash(t):
				ups = append(ups, fsm.TaskStatusUpdate{ID: t.ID, Node: t.Node, LastStatus: structs.StatusStopped, StopReason: "essential container app exited with code 1", At: now})
			}
		}
		if len(ups) > 0 {
			if _, err := k.commitChecked(ctx, fsm.CmdUpdateTaskStatus, fsm.UpdateTaskStatus{Updates: ups}); err != nil && ctx.Err() == nil {
				k.t.Error(err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-watch:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (k *deployRig) freeze(frozen bool) {
	k.mu.Lock()
	k.frozen = frozen
	k.mu.Unlock()
}

func (k *deployRig) checkedPlans() (int, []string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.plans, append([]string(nil), k.failed...)
}

func percent(n int) *int { return &n }

func webService(image string, count int, cfg *structs.DeploymentConfiguration) fsm.ApplyService {
	return fsm.ApplyService{Service: structs.Service{Name: "web", DesiredCount: count, DeploymentConfiguration: cfg},
		TaskDefinition: &structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: image, Memory: 10}}}}
}

// settledOn reports whether web runs count healthy tasks of rev and
// nothing else.
func settledOn(st *fsm.State, rev string, count int) bool {
	n := 0
	for _, t := range st.TasksByService("web") {
		if !t.Active() {
			continue
		}
		if t.TaskDefinition != rev || t.LastStatus != structs.StatusRunning {
			return false
		}
		n++
	}
	return n == count
}

func lastDeployment(st *fsm.State) *structs.Deployment {
	ds := st.Service("web").Deployments
	if len(ds) == 0 {
		return nil
	}
	return &ds[len(ds)-1]
}

func (k *deployRig) expectBoundsHeld() {
	k.t.Helper()
	plans, failed := k.checkedPlans()
	for _, f := range failed {
		k.t.Error(f)
	}
	if plans == 0 {
		k.t.Error("no plan of a deployment was checked")
	}
}

// A new revision replaces the old tasks within the deployment's bounds at
// every plan, and the deployment ends COMPLETED with its counts.
func TestRollingDeploymentHoldsBounds(t *testing.T) {
	for _, cfg := range []*structs.DeploymentConfiguration{
		nil,
		{MinimumHealthyPercent: percent(50), MaximumPercent: percent(100)},
		{MinimumHealthyPercent: percent(75), MaximumPercent: percent(125)},
	} {
		name := "default"
		if cfg != nil {
			name = fmt.Sprintf("%d-%d", *cfg.MinimumHealthyPercent, *cfg.MaximumPercent)
		}
		t.Run(name, func(t *testing.T) {
			k := newDeployRig(t)
			r := newFakeRaft()
			k.leader(r)
			k.commit(fsm.CmdApplyService, webService("app:1", 4, cfg))
			r.setLeading(true)
			waitFor(t, "web:1 running", func() bool { return settledOn(k.c.FSM.State(), "web:1", 4) })
			if d := lastDeployment(k.c.FSM.State()); d != nil {
				t.Fatalf("a first apply made deployment %+v", d)
			}
			time.Sleep(testHealthyAfter)
			k.commit(fsm.CmdApplyService, webService("app:2", 4, cfg))
			waitFor(t, "web:2 running alone", func() bool { return settledOn(k.c.FSM.State(), "web:2", 4) })
			waitFor(t, "the deployment completed", func() bool {
				d := lastDeployment(k.c.FSM.State())
				return d != nil && d.State == structs.DeploymentCompleted
			})
			d := lastDeployment(k.c.FSM.State())
			if d.From != "web:1" || d.To != "web:2" || d.Healthy != 4 || d.OldRunning != 0 || d.Desired != 4 {
				t.Errorf("deployment %+v: want web:1 to web:2 with 4 healthy and no old task", d)
			}
			k.expectBoundsHeld()
		})
	}
}

// A revision whose tasks exit at once trips the circuit breaker, which
// rolls the service back to the revision before, within the bounds.
func TestCrashingRevisionRollsBack(t *testing.T) {
	k := newDeployRig(t)
	r := newFakeRaft()
	k.leader(r)
	k.commit(fsm.CmdApplyService, webService("app:1", 3, nil))
	r.setLeading(true)
	waitFor(t, "web:1 running", func() bool { return settledOn(k.c.FSM.State(), "web:1", 3) })
	time.Sleep(testHealthyAfter)
	k.mu.Lock()
	k.crash = func(t *structs.Task) bool {
		return t.TaskDefinition == "web:2" && t.LastStatus == structs.StatusRunning
	}
	k.mu.Unlock()
	k.commit(fsm.CmdApplyService, webService("app:2", 3, nil))
	waitFor(t, "the rollback completed", func() bool {
		d := lastDeployment(k.c.FSM.State())
		return d != nil && d.Rollback && d.State == structs.DeploymentCompleted
	})
	st := k.c.FSM.State()
	if got := st.Service("web").TaskDefinition; got != "web:1" {
		t.Errorf("service runs %s after the rollback, want web:1", got)
	}
	ds := st.Service("web").Deployments
	if len(ds) != 2 || ds[0].State != structs.DeploymentRolledBack || ds[0].Failed < 3 || ds[0].Reason == "" {
		t.Errorf("deployments %+v: want web:2 ROLLED_BACK after 3 failures, with a reason", ds)
	}
	if !settledOn(st, "web:1", 3) {
		t.Error("web does not run 3 tasks of web:1 after the rollback")
	}
	k.expectBoundsHeld()
}

// A leader that stops leading mid-deployment leaves the deployment in the
// state, and the next leader finishes that same deployment.
func TestNewLeaderFinishesDeployment(t *testing.T) {
	k := newDeployRig(t)
	r1 := newFakeRaft()
	k.leader(r1)
	k.commit(fsm.CmdApplyService, webService("app:1", 4, nil))
	r1.setLeading(true)
	waitFor(t, "web:1 running", func() bool { return settledOn(k.c.FSM.State(), "web:1", 4) })
	time.Sleep(testHealthyAfter)
	k.freeze(true)
	k.commit(fsm.CmdApplyService, webService("app:2", 4, nil))
	waitFor(t, "the deployment started", func() bool {
		d := lastDeployment(k.c.FSM.State())
		return d != nil && d.State == structs.DeploymentInProgress && d.Pending == 4
	})
	id := lastDeployment(k.c.FSM.State()).ID
	r1.setLeading(false)
	r2 := newFakeRaft()
	k.leader(r2)
	r2.setLeading(true)
	k.freeze(false)
	waitFor(t, "the deployment completed", func() bool {
		d := lastDeployment(k.c.FSM.State())
		return d != nil && d.State == structs.DeploymentCompleted
	})
	if d := lastDeployment(k.c.FSM.State()); d.ID != id || len(k.c.FSM.State().Service("web").Deployments) != 1 {
		t.Errorf("the new leader ended deployment %s, want the one the old leader started, %s", d.ID, id)
	}
	if !settledOn(k.c.FSM.State(), "web:2", 4) {
		t.Error("web does not run 4 tasks of web:2")
	}
	k.expectBoundsHeld()
}

// A scale during a deployment moves the bounds with the desired count, and
// the deployment ends with the new count.
func TestScaleDuringDeployment(t *testing.T) {
	k := newDeployRig(t)
	r := newFakeRaft()
	k.leader(r)
	k.commit(fsm.CmdApplyService, webService("app:1", 4, nil))
	r.setLeading(true)
	waitFor(t, "web:1 running", func() bool { return settledOn(k.c.FSM.State(), "web:1", 4) })
	time.Sleep(testHealthyAfter)
	k.freeze(true)
	k.commit(fsm.CmdApplyService, webService("app:2", 4, nil))
	waitFor(t, "the deployment started", func() bool {
		d := lastDeployment(k.c.FSM.State())
		return d != nil && d.Pending == 4
	})
	k.commit(fsm.CmdScaleService, fsm.ScaleService{Name: "web", DesiredCount: 6})
	k.freeze(false)
	waitFor(t, "web:2 running alone", func() bool { return settledOn(k.c.FSM.State(), "web:2", 6) })
	waitFor(t, "the deployment completed", func() bool {
		d := lastDeployment(k.c.FSM.State())
		return d != nil && d.State == structs.DeploymentCompleted && d.Desired == 6
	})
	k.expectBoundsHeld()
}

// A restart replaces every task with a new one of the same revision,
// rolling, in a deployment of its own.
func TestRestartRollsTheTasks(t *testing.T) {
	k := newDeployRig(t)
	r := newFakeRaft()
	k.leader(r)
	k.commit(fsm.CmdApplyService, webService("app:1", 3, nil))
	r.setLeading(true)
	waitFor(t, "web:1 running", func() bool { return settledOn(k.c.FSM.State(), "web:1", 3) })
	time.Sleep(testHealthyAfter)
	before := map[string]bool{}
	for _, task := range k.c.FSM.State().TasksByService("web") {
		before[task.ID] = true
	}
	k.commit(fsm.CmdSetServiceRevision, fsm.SetServiceRevision{Name: "web", Restart: true, At: time.Now().UnixMilli()})
	waitFor(t, "the restart completed", func() bool {
		d := lastDeployment(k.c.FSM.State())
		return d != nil && d.State == structs.DeploymentCompleted
	})
	st := k.c.FSM.State()
	if !settledOn(st, "web:1", 3) {
		t.Error("web does not run 3 tasks of web:1")
	}
	for _, task := range st.TasksByService("web") {
		if task.Active() && before[task.ID] {
			t.Errorf("task %s from before the restart still runs", task.ID)
		}
	}
	k.expectBoundsHeld()
}

// A deployment whose new tasks find no room makes no progress, and fails
// and rolls back once it has been stuck for StuckAfter, naming why.
func TestStuckDeploymentRollsBack(t *testing.T) {
	k := newDeployRig(t)
	k.commit(fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 64 * 1024, MemoryMiB: 40, PortMin: 1, PortMax: 2}})
	r := newFakeRaft()
	k.leader(r)
	k.commit(fsm.CmdApplyService, webService("app:1", 4, nil))
	r.setLeading(true)
	waitFor(t, "web:1 running", func() bool { return settledOn(k.c.FSM.State(), "web:1", 4) })
	k.commit(fsm.CmdApplyService, webService("app:2", 4, nil))
	waitFor(t, "the deployment rolled back", func() bool {
		ds := k.c.FSM.State().Service("web").Deployments
		return len(ds) == 2 && ds[0].State == structs.DeploymentRolledBack && ds[1].State == structs.DeploymentCompleted
	})
	st := k.c.FSM.State()
	if d := st.Service("web").Deployments[0]; !strings.Contains(d.Reason, "no progress") || !strings.Contains(d.Reason, "memory") {
		t.Errorf("reason %q: want no progress, naming the memory it lacks", d.Reason)
	}
	if !settledOn(st, "web:1", 4) {
		t.Error("web does not run 4 tasks of web:1")
	}
}

// Without rollback, a tripped circuit breaker leaves the deployment
// FAILED, and the leader, which keeps replacing the failed tasks within
// the bounds, leaves the record as it ended.
func TestFailedDeploymentWithoutRollback(t *testing.T) {
	k := newDeployRig(t)
	r := newFakeRaft()
	k.leader(r)
	cfg := &structs.DeploymentConfiguration{DeploymentCircuitBreaker: &structs.CircuitBreaker{Enable: true}}
	k.commit(fsm.CmdApplyService, webService("app:1", 3, cfg))
	r.setLeading(true)
	waitFor(t, "web:1 running", func() bool { return settledOn(k.c.FSM.State(), "web:1", 3) })
	time.Sleep(testHealthyAfter)
	k.mu.Lock()
	k.crash = func(t *structs.Task) bool {
		return t.TaskDefinition == "web:2" && t.LastStatus == structs.StatusRunning
	}
	k.mu.Unlock()
	bad := webService("app:2", 3, cfg)
	bad.Service.RestartPolicy.MaxBackoffSeconds = 1
	k.commit(fsm.CmdApplyService, bad)
	waitFor(t, "the deployment failed", func() bool {
		d := lastDeployment(k.c.FSM.State())
		return d != nil && d.State == structs.DeploymentFailed
	})
	time.Sleep(2 * time.Second)
	st := k.c.FSM.State()
	if got := st.Service("web").TaskDefinition; got != "web:2" {
		t.Errorf("service runs %s, want web:2: no rollback without rollback", got)
	}
	if n := len(st.Service("web").Deployments); n != 1 {
		t.Errorf("%d deployments, want the one that failed", n)
	}
	running := 0
	for _, task := range st.TasksByService("web") {
		if task.TaskDefinition == "web:1" && task.LastStatus == structs.StatusRunning {
			running++
		}
	}
	if running != 3 {
		t.Errorf("%d tasks of web:1 run, want all 3 kept while web:2 fails", running)
	}
	k.expectBoundsHeld()
}
