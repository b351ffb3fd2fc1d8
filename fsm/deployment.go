package fsm

import (
	"errors"
	"fmt"

	"github.com/skiff-run/skiff/structs"
)

// keepDeployments is how many deployments a service remembers, newest
// last, so that `skiff deployments` shows recent history while the state
// stays bounded.
const keepDeployments = 10

// UpdateDeployment records the leader's view of one deployment of a
// service: a new one, new counts, or its end. When Deployment ends
// ROLLED_BACK, Rollback is the deployment that restores its From revision:
// the same entry points the service back at that revision, so that no
// state holds a rolled-back deployment without its rollback.
type UpdateDeployment struct {
	Deployment structs.Deployment  `json:"deployment"`
	Rollback   *structs.Deployment `json:"rollback,omitempty"`
}

func (c *UpdateDeployment) validate() error {
	d := c.Deployment
	switch {
	case d.ID == "" || d.Service == "" || d.To == "":
		return errors.New("deployment: id, service and to are required")
	case d.State != structs.DeploymentInProgress && d.State != structs.DeploymentCompleted &&
		d.State != structs.DeploymentFailed && d.State != structs.DeploymentRolledBack:
		return fmt.Errorf("deployment.state %q: not a deployment state", d.State)
	case (d.State == structs.DeploymentRolledBack) != (c.Rollback != nil):
		return errors.New("rollback: given exactly when the deployment is ROLLED_BACK")
	case c.Rollback != nil && (c.Rollback.ID == "" || c.Rollback.To != d.From || c.Rollback.State != structs.DeploymentInProgress || !c.Rollback.Rollback):
		return errors.New("rollback: an IN_PROGRESS rollback deployment to the failed deployment's from revision")
	}
	return nil
}

// updateDeployment applies UpdateDeployment. A deployment always rolls to
// the service's current revision, except the one that ends ROLLED_BACK,
// and an ended deployment never changes again, so that a leader planning
// from an old state can neither start a rollout of a revision the user
// has already replaced nor bring an ended one back. A new deployment ends
// the one in progress before it: the user applied again mid-rollout.
func (w *writer) updateDeployment(c *UpdateDeployment) (any, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	d := c.Deployment
	old := w.t.service(d.Service)
	if old == nil {
		return nil, fmt.Errorf("service %s: %w", d.Service, structs.ErrNotFound)
	}
	if old.TaskDefinition != d.To || old.RestartedAt != d.RestartedAt {
		return nil, fmt.Errorf("deployment %s rolls to %s (restarted at %d), but service %s runs %s (restarted at %d) now",
			d.ID, d.To, d.RestartedAt, d.Service, old.TaskDefinition, old.RestartedAt)
	}
	svc := *old
	svc.Deployments = append([]structs.Deployment(nil), old.Deployments...)
	i := len(svc.Deployments) - 1
	for ; i >= 0 && svc.Deployments[i].ID != d.ID; i-- {
	}
	switch {
	case i >= 0 && svc.Deployments[i].Terminal():
		return nil, fmt.Errorf("deployment %s is already %s", d.ID, svc.Deployments[i].State)
	case i >= 0:
		d.CreatedAt = svc.Deployments[i].CreatedAt
		svc.Deployments[i] = d
	default:
		for j := range svc.Deployments {
			if p := &svc.Deployments[j]; !p.Terminal() {
				p.State, p.Reason, p.UpdatedAt = structs.DeploymentFailed, "superseded by deployment "+d.ID, d.UpdatedAt
				w.deploymentEvent(p, false)
			}
		}
		d.CreatedAt = d.UpdatedAt
		svc.Deployments = append(svc.Deployments, d)
	}
	w.deploymentEvent(&d, i < 0)
	if r := c.Rollback; r != nil {
		rb := *r
		rb.CreatedAt = rb.UpdatedAt
		svc.Deployments = append(svc.Deployments, rb)
		svc.TaskDefinition = d.From
		w.deploymentEvent(&rb, true)
	}
	if n := len(svc.Deployments) - keepDeployments; n > 0 {
		svc.Deployments = svc.Deployments[n:]
	}
	w.t.putService(&svc)
	return nil, nil
}

// SetServiceRevision points a service at another registered revision of
// its family (a rollback), or, with Restart, has its tasks replaced by new
// ones of the revision it runs; the rest of the service stays as it is,
// so that neither overwrites a concurrent change.
type SetServiceRevision struct {
	Name           string `json:"name"`
	TaskDefinition string `json:"taskDefinition,omitempty"`
	Restart        bool   `json:"restart,omitempty"`
	At             int64  `json:"at"`
}

func (c *SetServiceRevision) validate() error {
	if c.Name == "" || (c.TaskDefinition == "") == !c.Restart {
		return errors.New("set service revision: a name, and either a task definition or a restart")
	}
	return nil
}

func (w *writer) setServiceRevision(c *SetServiceRevision) (any, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	old := w.t.service(c.Name)
	if old == nil {
		return nil, fmt.Errorf("service %s: %w", c.Name, structs.ErrNotFound)
	}
	s := *old
	if c.Restart {
		s.RestartedAt = c.At
	} else {
		family, rev, err := structs.ParseTaskDefRef(c.TaskDefinition)
		if err != nil {
			return nil, err
		}
		if cur, _, _ := structs.ParseTaskDefRef(old.TaskDefinition); cur != family {
			return nil, fmt.Errorf("task definition %s: service %s runs family %s", c.TaskDefinition, c.Name, cur)
		}
		td := w.t.taskDef(family, rev)
		if td == nil {
			return nil, fmt.Errorf("task definition %s: %w", c.TaskDefinition, structs.ErrNotFound)
		}
		if err := balancedTargets(&s, td); err != nil {
			return nil, err
		}
		s.TaskDefinition = c.TaskDefinition
		if err := w.reservedPorts(&s); err != nil {
			return nil, err
		}
	}
	s.UpdatedAt = c.At
	w.t.putService(&s)
	if c.Restart {
		w.serviceEvent(structs.EventServiceRestarted, c.At, s.Name, "service "+s.Name+" replaces its tasks with new ones of "+s.TaskDefinition)
	} else {
		w.serviceEvent(structs.EventServiceRevision, c.At, s.Name, "service "+s.Name+" set back to "+s.TaskDefinition+" from "+old.TaskDefinition)
	}
	return s.TaskDefinition, nil
}
