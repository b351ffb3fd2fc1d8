package fsm

import (
	"fmt"

	"github.com/skiff-run/skiff/structs"
)

// unbalanced refuses a service with loadBalancers in a command of type t,
// which older replicas apply without them: only CmdApplyBalancedService,
// which a leader writes once every server knows it, may carry them.
func unbalanced(c *ApplyService, t CommandType) error {
	if len(c.Service.LoadBalancers) > 0 {
		return fmt.Errorf("service %s has loadBalancers, which %s does not carry; %s does", c.Service.Name, t, CmdApplyBalancedService)
	}
	return nil
}

// applyBalancedService applies a replica or daemon service that has
// loadBalancers. It refuses one whose entries name a container or port its
// definition lacks, or whose listeners another service's already take: the
// check is inside Apply, so that of two services applied at once for one
// listener only the first gets it.
func (w *writer) applyBalancedService(c *ApplyService) (any, error) {
	s := &c.Service
	switch {
	case len(s.LoadBalancers) == 0:
		return "", fmt.Errorf("service %s has no loadBalancers: %s takes services with some", s.Name, CmdApplyBalancedService)
	case s.SchedulingStrategy != "" && s.SchedulingStrategy != structs.SchedulingDaemon:
		return "", fmt.Errorf("scheduling strategy %q: expected %s or none", s.SchedulingStrategy, structs.SchedulingDaemon)
	case s.IsDaemon() && s.DesiredCount != 0:
		return "", fmt.Errorf("desired count %d: a daemon service has none", s.DesiredCount)
	}
	if i, why := structs.ListenerConflict(s.Name, s.LoadBalancers, all(w.t.services)); i >= 0 {
		return "", fmt.Errorf("%w: service %s: loadBalancers[%d].listenerPort: %s", structs.ErrConflict, s.Name, i, why)
	}
	td := c.TaskDefinition
	if td == nil {
		ref, err := w.resolveTaskDef(nil, s.TaskDefinition)
		if err != nil {
			return "", err
		}
		family, rev, _ := structs.ParseTaskDefRef(ref)
		td = w.t.taskDef(family, rev)
	}
	if err := balancedTargets(s, td); err != nil {
		return "", err
	}
	return w.putApplied(c)
}

// balancedTargets refuses a definition for service s that lacks a
// container or port one of its loadBalancers names. Only replicas that
// know loadBalancers hold a service with some, so every replica decides
// this the same way.
func balancedTargets(s *structs.Service, td *structs.TaskDefinition) error {
	for i := range s.LoadBalancers {
		if field, why := structs.LoadBalancerTarget(&s.LoadBalancers[i], td); field != "" {
			return fmt.Errorf("service %s: loadBalancers[%d].%s: %s", s.Name, i, field, why)
		}
	}
	return nil
}
