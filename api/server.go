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
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// State is a read-only view of the local replica at one log index. The
// objects it returns are shared and must not be modified.
type State interface {
	Index() uint64
	Nodes() []*structs.Node
	Node(id string) *structs.Node
	Services() []*structs.Service
	Service(name string) *structs.Service
	TaskDefinitions() []*structs.TaskDefinition
	TaskDefinition(ref string) *structs.TaskDefinition
	Tasks() []*structs.Task
	Task(id string) *structs.Task
	TasksByService(service string) []*structs.Task
}

// Backend is what the API needs from the agent. Implementations are safe
// for concurrent use, and every method that takes a ctx gives up when it
// ends.
type Backend interface {
	// View is a read view of the local replica. It never waits on the
	// scheduler or on Raft.
	View() State
	// Health describes this agent and its view of the cluster.
	Health() Health
	ApplyService(ctx context.Context, svc *structs.Service, td *structs.TaskDefinition) (*structs.Service, error)
	DeleteService(ctx context.Context, name string) error
	ScaleService(ctx context.Context, name string, count int) error
	// RunTasks starts one-off tasks; failure explains any it could not
	// place (nil when all were placed).
	RunTasks(ctx context.Context, td *structs.TaskDefinition, count int) (tasks []*structs.Task, failure *structs.PlacementFailure, err error)
	StopTask(ctx context.Context, id string) error
	// IsLeader tells whether this agent leads; LeaderAPI and NodeAPI give
	// API addresses ("" when unknown) to forward requests to.
	IsLeader() bool
	LeaderAPI() string
	NodeAPI(node string) string
	// ApplyInternal commits a command forwarded by another agent's loops.
	ApplyInternal(ctx context.Context, cmd []byte) (any, error)
	Members() []Member
	RaftPeers(ctx context.Context) ([]RaftPeer, error)
	Drain(ctx context.Context, node string, enable bool) (*structs.Node, error)
	// Leave leaves the cluster gracefully; the agent then stops.
	Leave(ctx context.Context) error
	// Barrier returns once this leader has applied every committed entry,
	// so that a read after it sees every acknowledged write.
	Barrier(ctx context.Context) error
	Logs(ctx context.Context, taskID, container string, follow bool, w io.Writer) error
}

// Member is one agent as the gossip ring sees it (GET /v1/members). The
// short JSON names are those of the ring's own metadata, kept for scripts
// that read them.
type Member struct {
	ID              string            `json:"id"`
	Name            string            `json:"n"`
	RaftAddr        string            `json:"r"`
	APIAddr         string            `json:"a"`
	CPU             int64             `json:"c,omitempty"`
	MemoryMiB       int64             `json:"m,omitempty"`
	Attributes      map[string]string `json:"at,omitempty"`
	Version         string            `json:"v"`
	BootstrapExpect int               `json:"be,omitempty"`
	Leaving         bool              `json:"l,omitempty"`
	Addr            string            `json:"addr"`
	Status          string            `json:"status"`
	Since           time.Time         `json:"since"`
}

// RaftPeer is one server of the Raft configuration (GET /v1/raft/peers).
type RaftPeer struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
	Leader  bool   `json:"leader"`
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
	Service  *structs.Service `json:"service"`
	Warnings []string         `json:"warnings,omitempty"`
}

// RunRequest is the body of POST /v1/tasks.
type RunRequest struct {
	TaskDefinition json.RawMessage `json:"taskDefinition"`
	Count          int             `json:"count"`
}

// RunResult is the answer to POST /v1/tasks.
type RunResult struct {
	Tasks []*structs.Task `json:"tasks"`
	// Failure explains tasks that could not be placed; PlacementFailure
	// is the same with typed reasons.
	Failure          string                    `json:"failure,omitempty"`
	PlacementFailure *structs.PlacementFailure `json:"placementFailure,omitempty"`
	Warnings         []string                  `json:"warnings,omitempty"`
}

// ServiceStatus is a service with the counts of its tasks, as listed by
// GET /v1/services.
type ServiceStatus struct {
	structs.Service
	Running int `json:"runningCount"`
	Pending int `json:"pendingCount"`
	// Message is the service's placement failure, as people read it.
	Message string `json:"message,omitempty"`
}

// InternalApplyPath is where agents forward their loops' commands to the
// leader.
const InternalApplyPath = "/v1/internal/apply"

// ApplyAnswer is the leader's answer to a forwarded command.
type ApplyAnswer struct {
	Result any    `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

// DrainRequest is the body of POST /v1/nodes/{id}/drain.
type DrainRequest struct {
	Enable bool `json:"enable"`
}

// ScaleRequest is the body of POST /v1/services/{name}/scale.
type ScaleRequest struct {
	DesiredCount *int `json:"desiredCount"`
}

// Backend errors that map to HTTP statuses.
var (
	ErrNotFound    = structs.ErrNotFound
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
	mux.HandleFunc("GET /v1/members", s.members)
	mux.HandleFunc("GET /v1/raft/peers", s.peers)
	mux.HandleFunc("POST /v1/nodes/{id}/drain", s.drain)
	mux.HandleFunc("POST /v1/leave", s.leave)
	mux.HandleFunc("POST "+InternalApplyPath, s.internalApply)
	return s.forwarding(mux)
}

// forwardedHeader marks a request one agent passed to another, so that a
// request is forwarded at most once.
const forwardedHeader = "X-Skiff-Forwarded"

// forwarding sends writes, and reads that ask for ?consistent, to the
// leader; every other read is served from the local replica. Requests that
// concern this agent itself (leave, logs, forwarded commands) stay here.
func (s *server) forwarding(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local := r.URL.Path == "/v1/leave" || r.URL.Path == InternalApplyPath || strings.HasSuffix(r.URL.Path, "/logs")
		wantsLeader := r.Method != http.MethodGet || r.URL.Query().Has("consistent")
		if local || !wantsLeader {
			next.ServeHTTP(w, r)
			return
		}
		if s.b.IsLeader() {
			if r.Method == http.MethodGet {
				if err := s.b.Barrier(r.Context()); err != nil {
					s.writeErr(w, r, fmt.Errorf("%w: consistent read: %v", ErrUnavailable, err))
					return
				}
			}
			next.ServeHTTP(w, r)
			return
		}
		s.proxy(w, r, s.b.LeaderAPI(), "leader")
	})
}

// proxy passes the request to another agent's API.
func (s *server) proxy(w http.ResponseWriter, r *http.Request, addr, who string) {
	if r.Header.Get(forwardedHeader) != "" {
		s.writeErr(w, r, fmt.Errorf("%w: the request was forwarded here, but this agent cannot serve it either", ErrUnavailable))
		return
	}
	if addr == "" {
		s.writeErr(w, r, fmt.Errorf("%w: no %s is known yet; try again shortly", ErrUnavailable, who))
		return
	}
	target := &url.URL{Scheme: "http", Host: addr}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set(forwardedHeader, "1")
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.writeErr(w, r, fmt.Errorf("%w: forwarding to the %s at %s: %v", ErrUnavailable, who, addr, err))
		},
	}
	rp.ServeHTTP(w, r)
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
	case errors.Is(err, ErrNotFound):
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
	writeJSON(w, http.StatusOK, nonNil(s.b.View().Nodes()))
}

func (s *server) taskdefs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, nonNil(s.b.View().TaskDefinitions()))
}

func (s *server) status(st State, svc *structs.Service) ServiceStatus {
	out := ServiceStatus{Service: *svc, Message: svc.PlacementFailure.String()}
	for _, t := range st.TasksByService(svc.Name) {
		switch {
		case t.DesiredStatus != structs.StatusRunning:
		case t.LastStatus == structs.StatusRunning:
			out.Running++
		case t.LastStatus == structs.StatusPending:
			out.Pending++
		}
	}
	return out
}

func (s *server) services(w http.ResponseWriter, r *http.Request) {
	st := s.b.View()
	out := []ServiceStatus{}
	for _, svc := range st.Services() {
		out = append(out, s.status(st, svc))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) service(w http.ResponseWriter, r *http.Request) {
	st := s.b.View()
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
	writeJSON(w, http.StatusOK, s.b.View().Service(r.PathValue("name")))
}

func (s *server) tasks(w http.ResponseWriter, r *http.Request) {
	st := s.b.View()
	var list []*structs.Task
	if svc := r.URL.Query().Get("service"); svc != "" {
		list = st.TasksByService(svc)
	} else {
		list = st.Tasks()
	}
	all := r.URL.Query().Has("all")
	out := make([]*structs.Task, 0, len(list))
	for _, t := range list {
		if all || !t.Terminal() {
			out = append(out, t)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// resolveTask finds a task by its id or by a unique prefix of it, so that
// people can type the short ids `skiff ps` shows.
func resolveTask(st State, id string) (*structs.Task, error) {
	if t := st.Task(id); t != nil {
		return t, nil
	}
	var found *structs.Task
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
	t, err := resolveTask(s.b.View(), r.PathValue("id"))
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
	writeJSON(w, http.StatusOK, RunResult{Tasks: nonNil(tasks), Failure: failure.String(), PlacementFailure: failure, Warnings: warnings})
}

func (s *server) stop(w http.ResponseWriter, r *http.Request) {
	t, err := resolveTask(s.b.View(), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if err := s.b.StopTask(r.Context(), t.ID); err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.b.View().Task(t.ID))
}

func (s *server) logs(w http.ResponseWriter, r *http.Request) {
	follow, _ := strconv.ParseBool(r.URL.Query().Get("follow"))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fw := &flushWriter{w: w}
	if f, ok := w.(http.Flusher); ok {
		fw.f = f
	}
	t, err := resolveTask(s.b.View(), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	// Logs live with the engine that runs the task.
	if self := s.b.Health().Node; t.Node != self {
		s.proxy(w, r, s.b.NodeAPI(t.Node), "node running the task")
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

func (s *server) members(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, nonNil(s.b.Members()))
}

func (s *server) peers(w http.ResponseWriter, r *http.Request) {
	peers, err := s.b.RaftPeers(r.Context())
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(peers))
}

func (s *server) drain(w http.ResponseWriter, r *http.Request) {
	raw, err := readBody(w, r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	var req DrainRequest
	if _, err := decodeStrict(raw, &shape{acted: map[string]*shape{"enable": nil}}, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	n, err := s.b.Drain(r.Context(), r.PathValue("id"), req.Enable)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (s *server) leave(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Leave(r.Context()); err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.b.Health())
}

func (s *server) internalApply(w http.ResponseWriter, r *http.Request) {
	raw, err := readBody(w, r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	res, err := s.b.ApplyInternal(r.Context(), raw)
	if err != nil {
		var fe *FieldError
		status := http.StatusOK
		if errors.As(err, &fe) {
			status = http.StatusBadRequest
		} else if errors.Is(err, ErrUnavailable) {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, ApplyAnswer{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, ApplyAnswer{Result: res})
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
