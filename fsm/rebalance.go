package fsm

import (
	"errors"
	"fmt"

	"github.com/skiff-run/skiff/structs"
)

// MoveTask starts one rebalance move: it places Task, a replacement of
// the running task its Replaces names, on another node. The replaced task
// keeps running; the leader stops it with a CommitPlan once the
// replacement is healthy. Apply admits one move per service at a time, and
// only of a task still wanted, so that a leader planning from an old state
// can neither start a second move nor move a task that already stops.
type MoveTask struct {
	Task structs.Task `json:"task"`
	At   int64        `json:"at"`
}

func (c *MoveTask) validate() error {
	t := c.Task
	switch {
	case t.ID == "" || t.Node == "" || t.Service == "" || t.TaskDefinition == "":
		return errors.New("task: id, node, service and task definition are required")
	case t.Replaces == "":
		return errors.New("task.replaces: required: the task the move replaces")
	case t.DesiredStatus != structs.StatusRunning || t.LastStatus != structs.StatusPending:
		return fmt.Errorf("task: a new task is desired %s and last %s, not %s and %s",
			structs.StatusRunning, structs.StatusPending, t.DesiredStatus, t.LastStatus)
	}
	return nil
}

func (w *writer) moveTask(c *MoveTask) (any, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	t := c.Task
	svc := w.t.service(t.Service)
	switch old := w.t.task(t.Replaces); {
	case svc == nil:
		return nil, fmt.Errorf("service %s: %w", t.Service, structs.ErrNotFound)
	case w.t.task(t.ID) != nil:
		return nil, fmt.Errorf("task %s already exists", t.ID)
	case old == nil || old.Service != t.Service:
		return nil, fmt.Errorf("task %s of service %s: %w", t.Replaces, t.Service, structs.ErrNotFound)
	case !old.Active() || old.DesiredStatus != structs.StatusRunning:
		return nil, fmt.Errorf("task %s is no longer wanted; there is nothing to move", old.ID)
	case old.Node == t.Node:
		return nil, fmt.Errorf("task %s already runs on node %s", old.ID, t.Node)
	case t.TaskDefinition != svc.TaskDefinition || old.TaskDefinition != svc.TaskDefinition:
		return nil, fmt.Errorf("service %s runs %s: a move replaces a task of it with one of it, not %s with %s",
			svc.Name, svc.TaskDefinition, old.TaskDefinition, t.TaskDefinition)
	}
	if r, o := structs.MoveOf(tasksOf(w.t.tasksByService, t.Service)); r != nil {
		return nil, fmt.Errorf("service %s is already moving task %s to node %s", t.Service, o.ID, r.Node)
	}
	t.CreatedAt = c.At
	w.t.putTask(&t)
	return nil, nil
}
