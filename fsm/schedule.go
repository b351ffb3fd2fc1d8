package fsm

import (
	"errors"
	"fmt"

	"github.com/skiff-run/skiff/structs"
)

// ApplySchedule creates or updates a schedule, registering its task
// definition in the same entry when one is given, as ApplyService does.
// Its runs are kept; the expression is checked by the API, which parses it.
type ApplySchedule struct {
	Schedule       structs.Schedule        `json:"schedule"`
	TaskDefinition *structs.TaskDefinition `json:"taskDefinition,omitempty"`
	At             int64                   `json:"at"`
}

func (c *ApplySchedule) validate() error {
	s := c.Schedule
	switch {
	case s.Name == "":
		return errors.New("schedule name is empty")
	case s.Expression == "":
		return errors.New("schedule expression is empty")
	case s.Concurrency != structs.ConcurrencyAllow && s.Concurrency != structs.ConcurrencyForbid && s.Concurrency != structs.ConcurrencyReplace:
		return fmt.Errorf("concurrency %q: want allow, forbid or replace", s.Concurrency)
	}
	return nil
}

// DeleteSchedule removes a schedule; the tasks of its runs go on.
type DeleteSchedule struct {
	Name string `json:"name"`
}

// RecordScheduleRun records one run of a schedule, keyed by its scheduled
// time, with the one-off task it places and the earlier runs' tasks it
// stops, in one entry: a run is never recorded without its task nor its
// task placed without the record. A run at or before the schedule's newest
// recorded time is refused, so that no leader, old or new, runs a time
// twice.
type RecordScheduleRun struct {
	Name  string              `json:"name"`
	Run   structs.ScheduleRun `json:"run"`
	Place []structs.Task      `json:"place,omitempty"`
	Stop  []TaskStop          `json:"stop,omitempty"`
	At    int64               `json:"at"`
}

// ErrRunRecorded refuses a run whose time is already recorded.
var ErrRunRecorded = errors.New("a run at or after this time is already recorded")

func (w *writer) applySchedule(c *ApplySchedule) (any, error) {
	s := c.Schedule
	ref, err := w.resolveTaskDef(c.TaskDefinition, s.TaskDefinition)
	if err != nil {
		return "", err
	}
	s.TaskDefinition = ref
	s.CreatedAt, s.Runs = c.At, nil
	if old := w.t.schedule(s.Name); old != nil {
		s.CreatedAt, s.Runs = old.CreatedAt, old.Runs
	}
	s.UpdatedAt = c.At
	w.t.putSchedule(&s)
	return s.TaskDefinition, nil
}

func (w *writer) deleteSchedule(c *DeleteSchedule) (any, error) {
	if w.t.schedule(c.Name) == nil {
		return nil, fmt.Errorf("schedule %s: %w", c.Name, structs.ErrNotFound)
	}
	w.t.deleteSchedule(c.Name)
	return nil, nil
}

func (w *writer) recordScheduleRun(c *RecordScheduleRun) (any, error) {
	old := w.t.schedule(c.Name)
	if old == nil {
		return nil, fmt.Errorf("schedule %s: %w", c.Name, structs.ErrNotFound)
	}
	if c.Run.At <= old.LastRun() {
		return nil, fmt.Errorf("schedule %s, run at %d: %w", c.Name, c.Run.At, ErrRunRecorded)
	}
	for _, t := range c.Place {
		if t.Service != "" {
			return nil, fmt.Errorf("task %s: a schedule's run places one-off tasks, not service %s's", t.ID, t.Service)
		}
	}
	if _, err := w.commitPlan(&CommitPlan{Place: c.Place, Stop: c.Stop, At: c.At}); err != nil {
		return nil, err
	}
	s := *old
	s.Runs = append(s.Runs[max(0, len(s.Runs)+1-structs.MaxScheduleRuns):len(s.Runs):len(s.Runs)], c.Run)
	w.t.putSchedule(&s)
	return nil, nil
}
