package control

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/schedule"
	"github.com/skiff-run/skiff/scheduler"
	"github.com/skiff-run/skiff/structs"
)

// maxCatchUp bounds how many of a schedule's times one pass walks to find
// the newest that is due; a leader back after a longer gap runs the newest
// it reached, and the next pass goes on from there.
const maxCatchUp = 1 << 20

// now is the leader's clock: Config.Clock, or the system's.
func (c *ControlPlane) now() time.Time {
	if c.cfg.Clock != nil {
		return c.cfg.Clock()
	}
	return time.Now()
}

// fireSchedules runs every schedule that has a time due. Each schedule is
// fired under planMu on its own, so that its task and the services' plans
// never claim the same room.
func (c *ControlPlane) fireSchedules(ctx context.Context) error {
	now := c.now()
	var errs []error
	for _, s := range c.state.State().Schedules() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := c.fireSchedule(ctx, s.Name, now); err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}

// dueRun is the newest time of the schedule that is at or before now and
// after both its newest recorded run and its creation, or false when none
// is. Only the newest missed time runs: after a leader was away, the times
// it missed before that are passed over, as a Kubernetes CronJob without a
// startingDeadlineSeconds runs only its last missed schedule; a time
// recorded is never run again.
func dueRun(sched schedule.Schedule, s *structs.Schedule, now time.Time) (time.Time, bool) {
	next := sched.Next(time.UnixMilli(max(s.LastRun(), s.CreatedAt)))
	if next.After(now) {
		return time.Time{}, false
	}
	for range maxCatchUp {
		after := sched.Next(next)
		if after.After(now) {
			break
		}
		next = after
	}
	return next, true
}

// fireSchedule records and starts the schedule's due run, if it has one.
// The record and the task are one entry, committed before any node can
// start the task; the state machine refuses a time already recorded, so a
// run is never doubled, and a leader after a failover runs what the last
// one did not record.
func (c *ControlPlane) fireSchedule(ctx context.Context, name string, now time.Time) error {
	c.planMu.Lock()
	defer c.planMu.Unlock()
	tm, err := c.current()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(tm.ctx, cancel)()
	st := c.state.State()
	s := st.Schedule(name)
	if s == nil {
		return nil
	}
	sched, err := schedule.Parse(s.Expression, time.UnixMilli(s.CreatedAt))
	if err != nil {
		return err
	}
	due, ok := dueRun(sched, s, now)
	if !ok {
		return nil
	}
	cmd := fsm.RecordScheduleRun{Name: name, Run: structs.ScheduleRun{At: due.UnixMilli()}, At: now.UnixMilli()}
	var running []string
	for _, r := range s.Runs {
		if t := st.Task(r.Task); r.Task != "" && t != nil && t.Active() {
			running = append(running, t.ID)
		}
	}
	releasing := map[string]bool{}
	switch {
	case len(running) == 0:
	case s.Concurrency == structs.ConcurrencyForbid:
		cmd.Run.Skipped = fmt.Sprintf("concurrency forbid: the task of an earlier run (%s) is still active", running[len(running)-1])
	case s.Concurrency == structs.ConcurrencyReplace:
		for _, id := range running {
			cmd.Stop = append(cmd.Stop, fsm.TaskStop{ID: id, Reason: "replaced by the run of " + due.UTC().Format(time.RFC3339)})
			releasing[id] = true
		}
		cmd.Run.Replaced = running
	}
	if cmd.Run.Skipped == "" {
		td := st.TaskDefinition(s.TaskDefinition)
		if td == nil {
			cmd.Run.Skipped = fmt.Sprintf("task definition %s is missing", s.TaskDefinition)
		} else {
			p := scheduler.Place(st, scheduler.Job{TaskDef: td, Count: 1, Releasing: releasing, Seed: st.Index()})
			if len(p.Placements) == 0 {
				cmd.Run.Skipped = p.Failure.String()
			} else {
				cmd.Place = tasksFor(p, td, "", "")
				cmd.Run.Task = cmd.Place[0].ID
			}
		}
	}
	c.log.Info("schedule fired", "schedule", name, "at", due.UTC().Format(time.RFC3339), "task", cmd.Run.Task, "skipped", cmd.Run.Skipped)
	if _, err := c.commit.Commit(ctx, fsm.CmdRecordScheduleRun, cmd); err != nil && !errors.Is(err, fsm.ErrRunRecorded) {
		return err
	}
	return nil
}
