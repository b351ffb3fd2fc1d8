package fsm

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

func deploymentState(t *testing.T) *FSM {
	t.Helper()
	f := New(nil)
	td := structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img:1"}}}
	mustApply(t, f, 1, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1}, TaskDefinition: &td})
	td.ContainerDefinitions[0].Image = "img:2"
	mustApply(t, f, 2, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1}, TaskDefinition: &td})
	return f
}

func applyErr(f *FSM, index uint64, ct CommandType, body any) error {
	b, _ := Encode(ct, body)
	err, _ := f.ApplyCommand(index, b).(error)
	return err
}

func TestUpdateDeployment(t *testing.T) {
	inProgress := structs.Deployment{ID: "d1", Service: "web", From: "web:1", To: "web:2", State: structs.DeploymentInProgress, UpdatedAt: 5}
	t.Run("records and updates, keeping its start", func(t *testing.T) {
		f := deploymentState(t)
		mustApply(t, f, 3, CmdUpdateDeployment, UpdateDeployment{Deployment: inProgress})
		next := inProgress
		next.Healthy, next.UpdatedAt = 1, 9
		mustApply(t, f, 4, CmdUpdateDeployment, UpdateDeployment{Deployment: next})
		ds := f.State().Service("web").Deployments
		if len(ds) != 1 || ds[0].Healthy != 1 || ds[0].CreatedAt != 5 || ds[0].UpdatedAt != 9 {
			t.Errorf("deployments %+v: want one, created at 5, updated at 9 with 1 healthy", ds)
		}
	})
	t.Run("refuses a revision the service does not run", func(t *testing.T) {
		f := deploymentState(t)
		d := inProgress
		d.To = "web:1"
		if err := applyErr(f, 3, CmdUpdateDeployment, UpdateDeployment{Deployment: d}); err == nil || !strings.Contains(err.Error(), "runs web:2") {
			t.Errorf("err %v: want a refusal naming the revision the service runs", err)
		}
	})
	t.Run("never changes an ended deployment", func(t *testing.T) {
		f := deploymentState(t)
		done := inProgress
		done.State = structs.DeploymentCompleted
		mustApply(t, f, 3, CmdUpdateDeployment, UpdateDeployment{Deployment: done})
		if err := applyErr(f, 4, CmdUpdateDeployment, UpdateDeployment{Deployment: inProgress}); err == nil {
			t.Error("an ended deployment came back IN_PROGRESS")
		}
	})
	t.Run("a rollback points the service back", func(t *testing.T) {
		f := deploymentState(t)
		mustApply(t, f, 3, CmdUpdateDeployment, UpdateDeployment{Deployment: inProgress})
		failed := inProgress
		failed.State, failed.Reason = structs.DeploymentRolledBack, "circuit breaker"
		rb := structs.Deployment{ID: "d2", Service: "web", From: "web:2", To: "web:1", Rollback: true, State: structs.DeploymentInProgress}
		mustApply(t, f, 4, CmdUpdateDeployment, UpdateDeployment{Deployment: failed, Rollback: &rb})
		svc := f.State().Service("web")
		if svc.TaskDefinition != "web:1" || len(svc.Deployments) != 2 || svc.Deployments[1].ID != "d2" {
			t.Errorf("service %s with deployments %+v: want web:1 and the rollback deployment last", svc.TaskDefinition, svc.Deployments)
		}
		if err := applyErr(f, 5, CmdUpdateDeployment, UpdateDeployment{Deployment: failed}); err == nil {
			t.Error("ROLLED_BACK accepted without its rollback deployment")
		}
	})
	t.Run("a new deployment ends the one in progress", func(t *testing.T) {
		f := deploymentState(t)
		mustApply(t, f, 3, CmdUpdateDeployment, UpdateDeployment{Deployment: inProgress})
		d := inProgress
		d.ID = "d3"
		mustApply(t, f, 4, CmdUpdateDeployment, UpdateDeployment{Deployment: d})
		ds := f.State().Service("web").Deployments
		if len(ds) != 2 || ds[0].State != structs.DeploymentFailed || !strings.Contains(ds[0].Reason, "d3") {
			t.Errorf("deployments %+v: want d1 FAILED, superseded by d3", ds)
		}
	})
	t.Run("an apply keeps the deployments", func(t *testing.T) {
		f := deploymentState(t)
		mustApply(t, f, 3, CmdUpdateDeployment, UpdateDeployment{Deployment: inProgress})
		mustApply(t, f, 4, CmdScaleService, ScaleService{Name: "web", DesiredCount: 3})
		mustApply(t, f, 5, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", TaskDefinition: "web:2", DesiredCount: 2}})
		if ds := f.State().Service("web").Deployments; len(ds) != 1 {
			t.Errorf("deployments %+v after an apply: want the one recorded", ds)
		}
	})
}

func TestSetServiceRevision(t *testing.T) {
	f := deploymentState(t)
	mustApply(t, f, 3, CmdSetServiceRevision, SetServiceRevision{Name: "web", TaskDefinition: "web:1", At: 7})
	if svc := f.State().Service("web"); svc.TaskDefinition != "web:1" || svc.DesiredCount != 1 || svc.UpdatedAt != 7 {
		t.Errorf("service %+v: want web:1, the rest kept", svc)
	}
	for _, bad := range []SetServiceRevision{{Name: "web", TaskDefinition: "web:9"}, {Name: "web", TaskDefinition: "db:1"},
		{Name: "nope", Restart: true}, {Name: "web"}} {
		if err := applyErr(f, 4, CmdSetServiceRevision, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	mustApply(t, f, 5, CmdSetServiceRevision, SetServiceRevision{Name: "web", Restart: true, At: 9})
	if svc := f.State().Service("web"); svc.TaskDefinition != "web:1" || svc.RestartedAt != 9 {
		t.Errorf("service %+v: want web:1 restarted at 9", svc)
	}
}

// Deployments are state: a snapshot carries them to a restored replica,
// as a new leader that starts from a snapshot needs.
func TestDeploymentsInSnapshots(t *testing.T) {
	f := deploymentState(t)
	mustApply(t, f, 3, CmdUpdateDeployment, UpdateDeployment{Deployment: structs.Deployment{ID: "d1", Service: "web", From: "web:1", To: "web:2",
		State: structs.DeploymentInProgress, Healthy: 2, UpdatedAt: 5}})
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s sink
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	g := New(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(s.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if ds := g.State().Service("web").Deployments; len(ds) != 1 || ds[0].ID != "d1" || ds[0].Healthy != 2 {
		t.Errorf("restored deployments %+v: want d1 with 2 healthy", ds)
	}
}
