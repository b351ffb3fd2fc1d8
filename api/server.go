// Package api is skiff's HTTP/JSON interface under /v1 and the Go client
// the CLI uses. Handlers validate input and hand it to a Backend (the agent);
// they never write state themselves.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/skiff-run/skiff/fsm"
)

// Backend is what the API needs from the agent. Implementations are safe
// for concurrent use.
type Backend interface {
	// State is a read view of the local replica.
	State() *fsm.State
	// Health describes this agent and its view of the cluster.
	Health() Health
	ApplyService(ctx context.Context, svc *fsm.Service, td *fsm.TaskDefinition) (*fsm.Service, error)
	DeleteService(ctx context.Context, name string) error
	ScaleService(ctx context.Context, name string, count int) error
	// RunTasks starts one-off tasks; failure explains any it could not place.
	RunTasks(ctx context.Context, td *fsm.TaskDefinition, count int) (tasks []*fsm.Task, failure string, err error)
	StopTask(ctx context.Context, id string) error
	// PlacementFailure says why the service's tasks could not all be
	// placed, or "" when they could.
	PlacementFailure(service string) string
	Logs(ctx context.Context, taskID, container string, follow bool, w io.Writer) error
}

// Health is the answer of GET /v1/health.
type Health struct {
	Status   string `json:"status"`
	Node     string `json:"node"`
	Name     string `json:"name"`
	Leader   string `json:"leader"`
	IsLeader bool   `json:"isLeader"`
	Index    uint64 `json:"index"`
	Version  string `json:"version"`
}

// ApplyResult is the answer to a service apply.
type ApplyResult struct {
	Service  *fsm.Service `json:"service"`
	Warnings []string     `json:"warnings,omitempty"`
}

// RunRequest is the body of POST /v1/tasks.
type RunRequest struct {
	TaskDefinition json.RawMessage `json:"taskDefinition"`
	Count          int             `json:"count"`
}

// RunResult is the answer to POST /v1/tasks.
type RunResult struct {
	Tasks    []*fsm.Task `json:"tasks"`
	Failure  string      `json:"failure,omitempty"`
	Warnings []string    `json:"warnings,omitempty"`
}

// ServiceStatus is a service with the counts of its tasks, as listed by
// GET /v1/services.
type ServiceStatus struct {
	fsm.Service
	Running int    `json:"runningCount"`
	Pending int    `json:"pendingCount"`
	Message string `json:"message,omitempty"`
}

// ScaleRequest is the body of POST /v1/services/{name}/scale.
type ScaleRequest struct {
	DesiredCount *int `json:"desiredCount"`
}

// Backend errors that map to HTTP statuses.
var (
	ErrNotFound    = errors.New("not found")
	ErrUnavailable = errors.New("no leader is available")
)

// NewHandler returns the /v1 API over b.
func NewHandler(b Backend, log *slog.Logger) http.Handler {
	s := &server{b: b, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", s.health)
	mux.HandleFunc("GET /v1/nodes", s.nodes)
	mux.HandleFunc("GET /v1/taskdefs", s.taskdefs)
	mux.HandleFunc("GET /v1/services", s.services)
	mux.HandleFunc("GET /v1/services/{name}", s.service)
	mux.HandleFunc("PUT /v1/services/{name}", s.applyService)
	mux.HandleFunc("DELETE /v1/services/{name}", s.deleteService)
	mux.HandleFunc("POST /v1/services/{name}/scale", s.scale)
	mux.HandleFunc("GET /v1/tasks", s.tasks)
	mux.HandleFunc("POST /v1/tasks", s.run)
	mux.HandleFunc("GET /v1/tasks/{id}", s.task)
	mux.HandleFunc("POST /v1/tasks/{id}/stop", s.stop)
	mux.HandleFunc("GET /v1/tasks/{id}/logs", s.logs)
	return mux
}

type server struct {
	b   Backend
	log *slog.Logger
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeErr maps an error to a status and a JSON body naming the field.
func (s *server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var fe *FieldError
	status := http.StatusInternalServerError
	body := FieldError{Message: err.Error()}
	switch {
	case errors.As(err, &fe):
		status, body = http.StatusBadRequest, *fe
		if fe.Field == "body" && fe.Message == bodyTooLarge {
			status = http.StatusRequestEntityTooLarge
		}
	case errors.Is(err, ErrNotFound), errors.Is(err, fsm.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrUnavailable):
		status = http.StatusServiceUnavailable
	}
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, body)
}

var bodyTooLarge = fmt.Sprintf("larger than %d bytes", MaxBodyBytes)

// readBody reads at most MaxBodyBytes; a larger body is a FieldError.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &FieldError{Field: "body", Message: bodyTooLarge}
	}
	return b, err
}

func (s *server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.b.Health())
}

func (s *server) nodes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, nonNil(s.b.State().Nodes()))
}

func (s *server) taskdefs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, nonNil(s.b.State().TaskDefinitions()))
}

func (s *server) status(st *fsm.State, svc *fsm.Service) ServiceStatus {
	out := ServiceStatus{Service: *svc, Message: s.b.PlacementFailure(svc.Name)}
	for _, t := range st.TasksByService(svc.Name) {
		switch {
		case t.DesiredStatus != fsm.StatusRunning:
		case t.LastStatus == fsm.StatusRunning:
			out.Running++
		case t.LastStatus == fsm.StatusPending:
			out.Pending++
		}
	}
	return out
}

func (s *server) services(w http.ResponseWriter, r *http.Request) {
	st := s.b.State()
	out := []ServiceStatus{}
	for _, svc := range st.Services() {
		out = append(out, s.status(st, svc))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) service(w http.ResponseWriter, r *http.Request) {
	st := s.b.State()
	svc := st.Service(r.PathValue("name"))
	if svc == nil {
		s.writeErr(w, r, fmt.Errorf("service %s: %w", r.PathValue("name"), ErrNotFound))
		return
	}
	writeJSON(w, http.StatusOK, s.status(st, svc))
}

func (s *server) applyService(w http.ResponseWriter, r *http.Request) {
	raw, err := readBody(w, r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	svc, td, warnings, err := DecodeServiceFile(raw)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if svc.Name != r.PathValue("name") {
		s.writeErr(w, r, fieldErr("service", "%q differs from the name in the path, %q", svc.Name, r.PathValue("name")))
		return
	}
	out, err := s.b.ApplyService(r.Context(), svc, td)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ApplyResult{Service: out, Warnings: warnings})
}

func (s *server) deleteService(w http.ResponseWriter, r *http.Request) {
	if err := s.b.DeleteService(r.Context(), r.PathValue("name")); err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) scale(w http.ResponseWriter, r *http.Request) {
	raw, err := readBody(w, r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	var req ScaleRequest
	if err := json.Unmarshal(raw, &req); err != nil || req.DesiredCount == nil {
		s.writeErr(w, r, fieldErr("desiredCount", "required: a whole number from 0 to %d", MaxDesiredCount))
		return
	}
	if n := *req.DesiredCount; n < 0 || n > MaxDesiredCount {
		s.writeErr(w, r, fieldErr("desiredCount", "%d is out of range: expected 0 to %d", n, MaxDesiredCount))
		return
	}
	if err := s.b.ScaleService(r.Context(), r.PathValue("name"), *req.DesiredCount); err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.b.State().Service(r.PathValue("name")))
}

func (s *server) tasks(w http.ResponseWriter, r *http.Request) {
	st := s.b.State()
	var list []*fsm.Task
	if svc := r.URL.Query().Get("service"); svc != "" {
		list = st.TasksByService(svc)
	} else {
		list = st.Tasks()
	}
	all := r.URL.Query().Has("all")
	out := make([]*fsm.Task, 0, len(list))
	for _, t := range list {
		if all || !t.Terminal() {
			out = append(out, t)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// resolveTask finds a task by its id or by a unique prefix of it, so that
// people can type the short ids `skiff ps` shows.
func resolveTask(st *fsm.State, id string) (*fsm.Task, error) {
	if t := st.Task(id); t != nil {
		return t, nil
	}
	var found *fsm.Task
	if id != "" {
		for _, t := range st.Tasks() {
			if strings.HasPrefix(t.ID, id) {
				if found != nil {
					return nil, fieldErr("id", "%q matches more than one task; give more of the id", id)
				}
				found = t
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("task %s: %w", id, ErrNotFound)
	}
	return found, nil
}

func (s *server) task(w http.ResponseWriter, r *http.Request) {
	t, err := resolveTask(s.b.State(), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *server) run(w http.ResponseWriter, r *http.Request) {
	raw, err := readBody(w, r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	var req RunRequest
	if _, err := decodeStrict(raw, &shape{acted: map[string]*shape{"taskDefinition": nil, "count": nil}}, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	if req.Count == 0 {
		req.Count = 1
	}
	if req.Count < 1 || req.Count > maxRunTaskCount {
		s.writeErr(w, r, fieldErr("count", "%d is out of range: expected 1 to %d", req.Count, maxRunTaskCount))
		return
	}
	if len(req.TaskDefinition) == 0 {
		s.writeErr(w, r, fieldErr("taskDefinition", "required: an ECS task definition"))
		return
	}
	td, warnings, err := DecodeTaskDefinition(req.TaskDefinition)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) && fe.Field != "body" {
			fe.Field = join("taskDefinition", fe.Field)
		}
		s.writeErr(w, r, err)
		return
	}
	tasks, failure, err := s.b.RunTasks(r.Context(), td, req.Count)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, RunResult{Tasks: nonNil(tasks), Failure: failure, Warnings: warnings})
}

func (s *server) stop(w http.ResponseWriter, r *http.Request) {
	t, err := resolveTask(s.b.State(), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if err := s.b.StopTask(r.Context(), t.ID); err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.b.State().Task(t.ID))
}

func (s *server) logs(w http.ResponseWriter, r *http.Request) {
	follow, _ := strconv.ParseBool(r.URL.Query().Get("follow"))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fw := &flushWriter{w: w}
	if f, ok := w.(http.Flusher); ok {
		fw.f = f
	}
	t, err := resolveTask(s.b.State(), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if err := s.b.Logs(r.Context(), t.ID, r.URL.Query().Get("container"), follow, fw); err != nil {
		if fw.wrote {
			s.log.Warn("log stream ended", "task", r.PathValue("id"), "err", err)
			return
		}
		s.writeErr(w, r, err)
	}
}

// flushWriter flushes after every write so that followed logs arrive as
// they are written.
type flushWriter struct {
	w     io.Writer
	f     http.Flusher
	wrote bool
}

func (fw *flushWriter) Write(p []byte) (int, error) {
	fw.wrote = true
	n, err := fw.w.Write(p)
	if fw.f != nil {
		fw.f.Flush()
	}
	return n, err
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
