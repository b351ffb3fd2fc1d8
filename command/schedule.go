package command

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/api"
)

// shownRuns is how many of a schedule's runs `skiff schedules` shows,
// newest first; --json has every run the state keeps.
const shownRuns = 3

func (e *env) schedulesCommand() *cli.Command {
	return &cli.Command{
		Name: "schedules", Usage: "list scheduled tasks: their schedule, next time and last runs' results", ArgsUsage: " ", Flags: []cli.Flag{jsonFlag(), outputFlag()},
		Action: func(c *cli.Context) error {
			return list(c, (*api.Client).Schedules, []string{"NAME", "SCHEDULE", "TASKDEF", "CONCURRENCY", "NEXT", "LAST RUNS"},
				func(ss []api.ScheduleStatus) ([][]any, error) {
					now := e.now()
					rows := make([][]any, len(ss))
					for i, s := range ss {
						next := "-"
						if s.NextRun > 0 {
							next = "in " + time.UnixMilli(s.NextRun).Sub(now).Round(time.Second).String()
						}
						rows[i] = []any{s.Name, s.Expression, s.TaskDefinition, s.Concurrency, next, lastRuns(s.Runs)}
					}
					return rows, nil
				})
		},
		Subcommands: []*cli.Command{{
			Name: "rm", Usage: "delete a schedule; the tasks of its runs go on", ArgsUsage: "NAME",
			Action: func(c *cli.Context) error {
				cl, err := clientFor(c, 1)
				if err != nil {
					return err
				}
				if err := cl.DeleteSchedule(c.Context, c.Args().First()); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "schedule %s deleted\n", c.Args().First())
				return nil
			},
		}},
	}
}

// lastRuns says how the newest runs went, newest first: each run's time
// (UTC) and its task's short id with its exit code, its state while it
// runs, or why it was skipped; a task collected since has neither.
func lastRuns(runs []api.ScheduleRunStatus) string {
	if len(runs) == 0 {
		return "-"
	}
	var out []string
	for i := len(runs) - 1; i >= 0 && len(out) < shownRuns; i-- {
		r := runs[i]
		at := time.UnixMilli(r.At).UTC().Format("01-02 15:04")
		switch {
		case r.Task == "":
			// The reason's head; --json has all of it.
			why, _, _ := strings.Cut(r.Skipped, ":")
			out = append(out, at+" skipped ("+why+")")
		case r.ExitCode != nil:
			out = append(out, fmt.Sprintf("%s %s exit %d", at, shortTaskID(r.Task), *r.ExitCode))
		case r.LastStatus != "":
			out = append(out, fmt.Sprintf("%s %s %s", at, shortTaskID(r.Task), strings.ToLower(r.LastStatus)))
		default:
			out = append(out, fmt.Sprintf("%s %s collected", at, shortTaskID(r.Task)))
		}
	}
	return strings.Join(out, ", ")
}

// applySchedule sends the file of a scheduled task, decoded here first for
// its name and to report bad input before anything is sent.
func applySchedule(c *cli.Context, path string, raw []byte) error {
	s, _, _, err := api.DecodeScheduleFile(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	cl, err := client(c)
	if err != nil {
		return err
	}
	res, err := cl.ApplySchedule(c.Context, s.Name, raw)
	if err != nil {
		return err
	}
	warn(c, res.Warnings)
	fmt.Fprintf(c.App.Writer, "schedule %s: %s, %s, concurrency %s\n", res.Schedule.Name, res.Schedule.TaskDefinition, res.Schedule.Expression, res.Schedule.Concurrency)
	return nil
}
