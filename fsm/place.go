package fsm

import (
	"errors"
	"fmt"

	"github.com/skiff-run/skiff/scheduler"
	"github.com/skiff-run/skiff/structs"
)

// PlaceTasks puts tasks on nodes that were named for them rather than
// chosen by the leader's scheduler: the one-off tasks of `run --node`
// (New, each with its Node), the unplaced tasks the leader keeps for a
// service that an outside scheduler places (New without a Node), and an
// outside scheduler's placements of those (Assign).
//
// Apply checks every placement with the scheduler against the state as
// the entry finds it, counting the entry's own earlier placements, and
// decides each task's host ports and GPUs itself, so that a placement
// planned against an older state can never overcommit a node. The entry
// applies whole or not at all: one placement that does not fit refuses it
// with the scheduler's explanation (a *structs.PlacementError).
type PlaceTasks struct {
	New    []structs.Task  `json:"new,omitempty"`
	Assign []TaskPlacement `json:"assign,omitempty"`
	At     int64           `json:"at"`
}

// TaskPlacement gives an unplaced task a node.
type TaskPlacement struct {
	ID   string `json:"id"`
	Node string `json:"node"`
}

func (c *PlaceTasks) validate() error {
	if n := len(c.New) + len(c.Assign); n > MaxTasksPerEntry {
		return fmt.Errorf("new, assign: %d tasks in one entry, at most %d", n, MaxTasksPerEntry)
	}
	for i, t := range c.New {
		switch {
		case t.ID == "" || t.TaskDefinition == "":
			return fmt.Errorf("new[%d]: task id and task definition are required", i)
		case t.Node == "" && t.Service == "":
			return fmt.Errorf("new[%d]: a one-off task needs a node", i)
		}
	}
	for i, a := range c.Assign {
		if a.ID == "" || a.Node == "" {
			return fmt.Errorf("assign[%d]: task id and node are required", i)
		}
	}
	return nil
}

func (w *writer) placeTasks(c *PlaceTasks) (any, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	for i := range c.New {
		t := c.New[i]
		if w.t.task(t.ID) != nil {
			return nil, fmt.Errorf("%w: task %s already exists", structs.ErrConflict, t.ID)
		}
		t.DesiredStatus, t.LastStatus, t.CreatedAt = structs.StatusRunning, structs.StatusPending, c.At
		t.HostPorts, t.GPUs, t.Containers = nil, nil, nil
		if t.Service != "" {
			svc := w.t.service(t.Service)
			if svc == nil {
				return nil, fmt.Errorf("service %s: %w", t.Service, structs.ErrNotFound)
			}
			t.Cluster = svc.Cluster
			if t.Node == "" && !svc.IsExternal() {
				return nil, fmt.Errorf("new[%d]: service %s is placed by the leader, so its tasks need a node", i, svc.Name)
			}
		}
		if t.Node == "" {
			td, err := w.taskDefOf(&t)
			if err != nil {
				return nil, err
			}
			t.CPU, t.MemoryMiB = td.CPU(), td.MemoryMiB()
			w.t.putTask(&t)
			continue
		}
		if err := w.placeOn(&t, t.Node); err != nil {
			return nil, err
		}
	}
	for _, a := range c.Assign {
		old := w.t.task(a.ID)
		switch {
		case old == nil:
			return nil, fmt.Errorf("task %s: %w", a.ID, structs.ErrNotFound)
		case !old.Unplaced():
			return nil, fmt.Errorf("%w: task %s is already placed on node %s", structs.ErrConflict, a.ID, old.Node)
		case old.DesiredStatus != structs.StatusRunning || old.Terminal():
			return nil, fmt.Errorf("%w: task %s was stopped (%s)", structs.ErrConflict, a.ID, old.StopReason)
		}
		if svc := w.t.service(old.Service); svc == nil || !svc.IsExternal() {
			return nil, fmt.Errorf("%w: task %s is not of a service with an external scheduler", structs.ErrConflict, a.ID)
		}
		t := *old
		// The pending timeout counts from the placement, which is when
		// the node is first asked to start the task.
		t.CreatedAt = c.At
		if err := w.placeOn(&t, a.Node); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// taskDefOf returns the definition a task runs.
func (w *writer) taskDefOf(t *structs.Task) (*structs.TaskDefinition, error) {
	family, rev, err := structs.ParseTaskDefRef(t.TaskDefinition)
	if err != nil {
		return nil, err
	}
	td := w.t.taskDef(family, rev)
	if td == nil {
		return nil, fmt.Errorf("task definition %s: %w", t.TaskDefinition, structs.ErrNotFound)
	}
	return td, nil
}

// placeOn checks that node can take t, exactly as the scheduler checks
// any placement, and writes t there with the host ports and GPUs the
// scheduler gives it.
func (w *writer) placeOn(t *structs.Task, node string) error {
	td, err := w.taskDefOf(t)
	if err != nil {
		return err
	}
	job := scheduler.Job{Service: t.Service, TaskDef: td, Count: 1, Cluster: t.Cluster}
	if t.Service != "" {
		svc := w.t.service(t.Service)
		if svc == nil {
			return fmt.Errorf("service %s: %w", t.Service, structs.ErrNotFound)
		}
		job.Constraints = svc.PlacementConstraints
	}
	plan := scheduler.PlaceOn(&State{t: w.t}, job, []string{node})
	if plan.Failure != nil {
		return &structs.PlacementError{Failure: plan.Failure}
	}
	if len(plan.Placements) != 1 {
		return errors.New("the scheduler placed no task and gave no reason")
	}
	pl := plan.Placements[0]
	t.Node, t.HostPorts, t.GPUs = pl.Node, pl.HostPorts, pl.GPUs
	t.CPU, t.MemoryMiB = td.CPU(), td.MemoryMiB()
	w.t.putTask(t)
	return nil
}
