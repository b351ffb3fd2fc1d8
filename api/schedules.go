package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/skiff-run/skiff/schedule"
	"github.com/skiff-run/skiff/structs"
)

// ScheduleStatus is a schedule as GET /v1/schedules lists it: its next
// time and its last runs with what became of their tasks.
type ScheduleStatus struct {
	structs.Schedule
	// NextRun is the next time the schedule fires, in Unix milliseconds.
	NextRun int64 `json:"nextRun,omitempty"`
	// Runs shadows the schedule's own, oldest first.
	Runs []ScheduleRunStatus `json:"runs,omitempty"`
}

// ScheduleRunStatus is one run and its task's state, as far as the task
// is still kept (one-off tasks are collected beyond the newest 100).
type ScheduleRunStatus struct {
	structs.ScheduleRun
	LastStatus string `json:"lastStatus,omitempty"`
	// ExitCode is that of the task's first container to report one.
	ExitCode   *int   `json:"exitCode,omitempty"`
	StopReason string `json:"stoppedReason,omitempty"`
}

// ScheduleResult is the answer to PUT /v1/schedules/{name}.
type ScheduleResult struct {
	Schedule *structs.Schedule `json:"schedule"`
	Warnings []string          `json:"warnings,omitempty"`
}

func scheduleStatus(st State, s *structs.Schedule) ScheduleStatus {
	out := ScheduleStatus{Schedule: *s}
	if sched, err := schedule.Parse(s.Expression, time.UnixMilli(s.CreatedAt)); err == nil {
		out.NextRun = sched.Next(time.UnixMilli(max(s.LastRun(), s.CreatedAt, time.Now().UnixMilli()))).UnixMilli()
	}
	for _, r := range s.Runs {
		rs := ScheduleRunStatus{ScheduleRun: r}
		if t := st.Task(r.Task); r.Task != "" && t != nil {
			rs.LastStatus, rs.StopReason = t.LastStatus, t.StopReason
			for _, c := range t.Containers {
				if c.ExitCode != nil {
					rs.ExitCode = c.ExitCode
					break
				}
			}
		}
		out.Runs = append(out.Runs, rs)
	}
	return out
}

func (s *server) schedules(w http.ResponseWriter, r *http.Request) (any, error) {
	st := s.b.View()
	out := []ScheduleStatus{}
	for _, sc := range st.Schedules() {
		out = append(out, scheduleStatus(st, sc))
	}
	return out, nil
}

func (s *server) applySchedule(w http.ResponseWriter, r *http.Request) (any, error) {
	raw, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	sc, td, warnings, err := DecodeScheduleFile(raw)
	if err != nil {
		return nil, err
	}
	if sc.Name != r.PathValue("name") {
		return nil, fieldErr("service", "%q differs from the name in the path, %q", sc.Name, r.PathValue("name"))
	}
	view := s.b.View()
	if td == nil {
		def := registered(view, sc.TaskDefinition)
		if def == nil {
			return nil, fieldErr("taskDefinition", "%q is not a registered task definition; register it with `skiff taskdefs register -f FILE`, or give the definition inline", sc.TaskDefinition)
		}
		if err := checkSecretsExist(view, def, "taskDefinition("+def.Ref()+")"); err != nil {
			return nil, err
		}
	} else if err := checkSecretsExist(view, td, "taskDefinition"); err != nil {
		return nil, err
	}
	out, err := s.b.ApplySchedule(r.Context(), sc, td)
	if err != nil {
		return nil, err
	}
	return ScheduleResult{Schedule: out, Warnings: warnings}, nil
}

func (s *server) deleteSchedule(w http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := s.b.DeleteSchedule(r.Context(), r.PathValue("name")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// Schedules lists the schedules with their next times and last runs.
func (c *Client) Schedules(ctx context.Context) ([]ScheduleStatus, error) {
	var out []ScheduleStatus
	return out, c.do(ctx, http.MethodGet, "/v1/schedules", nil, &out)
}

// ApplySchedule sends the file of a scheduled task; name must be its
// service name.
func (c *Client) ApplySchedule(ctx context.Context, name string, file []byte) (ScheduleResult, error) {
	var out ScheduleResult
	return out, c.do(ctx, http.MethodPut, "/v1/schedules/"+url.PathEscape(name), file, &out)
}

// DeleteSchedule removes a schedule; the tasks of its runs go on.
func (c *Client) DeleteSchedule(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/schedules/"+url.PathEscape(name), nil, nil)
}
