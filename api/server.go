// Package api is skiff's HTTP/JSON interface under /v1 and the Go client
// the CLI uses. Handlers validate input and hand it to a Backend (the agent);
// they never write state themselves.
package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
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
	TasksByNode(node string) []*structs.Task
	ACLTokens() []*structs.ACLToken
	// Secrets and Secret hold sealed values, which the API never shows.
	Secrets() []*structs.Secret
	Secret(name string) *structs.Secret
	ServicesUsingSecret(name string) []string
	Schedules() []*structs.Schedule
	Schedule(name string) *structs.Schedule
	// EventsAfter returns the events kept that entries after index
	// recorded, oldest first; EventsLostThrough is the index of the newest
	// event no longer kept.
	EventsAfter(index uint64) []*structs.Event
	EventsLostThrough() uint64
}

// Backend is what the API needs from the agent. Implementations are safe
// for concurrent use, and every method that takes a ctx gives up when it
// ends.
type Backend interface {
	// View is a read view of the local replica. It never waits on the
	// scheduler or on Raft.
	View() State
	// Changed returns a channel closed the next time the local replica
	// applies an entry, for requests that wait for the state to move.
	Changed() <-chan struct{}
	// Health describes this agent and its view of the cluster.
	Health() Health
	ApplyService(ctx context.Context, svc *structs.Service, td *structs.TaskDefinition) (*structs.Service, error)
	// ApplySchedule creates or updates a schedule, registering td when it
	// is given; DeleteSchedule removes one.
	ApplySchedule(ctx context.Context, s *structs.Schedule, td *structs.TaskDefinition) (*structs.Schedule, error)
	DeleteSchedule(ctx context.Context, name string) error
	// RegisterTaskDefinition registers td as its family's next revision,
	// or returns the newest revision when that one is the same.
	RegisterTaskDefinition(ctx context.Context, td *structs.TaskDefinition) (*structs.TaskDefinition, error)
	DeleteService(ctx context.Context, name string) error
	ScaleService(ctx context.Context, name string, count int) error
	// SetServiceRevision points a service at another revision of its
	// family, or with restart replaces its tasks with new ones of the
	// revision it runs.
	SetServiceRevision(ctx context.Context, name, taskDefinition string, restart bool) error
	// RunTasks starts one-off tasks; failure explains any it could not
	// place (nil when all were placed).
	RunTasks(ctx context.Context, td *structs.TaskDefinition, opts RunOptions) (tasks []*structs.Task, failure *structs.PlacementFailure, err error)
	// PlaceTask gives an unplaced task of a service with an external
	// scheduler the node named (by id or name); a placement that does not
	// fit is a *structs.PlacementError, a task already placed ErrConflict.
	PlaceTask(ctx context.Context, id, node string) (*structs.Task, error)
	StopTask(ctx context.Context, id string) error
	// IsLeader tells whether this agent leads; LeaderAPI and NodeAPI give
	// API addresses ("" when unknown) to forward requests to.
	IsLeader() bool
	LeaderAPI() string
	NodeAPI(node string) string
	// ApplyInternal commits a command forwarded by another agent's loops.
	// node is the id the calling agent's certificate names, "" when it
	// showed none (an agent without a cluster secret, as with --dev).
	ApplyInternal(ctx context.Context, node string, cmd []byte) (any, error)
	Members() []Member
	RaftPeers(ctx context.Context) ([]RaftPeer, error)
	Drain(ctx context.Context, node string, enable bool) (*structs.Node, error)
	// Leave leaves the cluster gracefully; the agent then stops.
	Leave(ctx context.Context) error
	// Barrier returns once this leader has applied every committed entry,
	// so that a read after it sees every acknowledged write.
	Barrier(ctx context.Context) error
	Logs(ctx context.Context, taskID, container string, opts structs.LogOptions, w io.Writer) error
	// Exec runs a command in a container of a task on this node, wired to
	// stdio, and returns its exit code. It gives up when ctx ends.
	Exec(ctx context.Context, taskID string, req ExecRequest, stdio ExecIO) (int, error)
	// Volumes lists the volumes skiff made on this node's engine.
	Volumes(ctx context.Context) ([]structs.NodeVolume, error)
	// Usage is what this node offers, reserves and, by its engine's
	// stats, uses.
	Usage(ctx context.Context) (structs.NodeUsage, error)
	// Metrics serves this agent's metrics in the Prometheus exposition
	// format.
	Metrics() http.Handler
	// SaveSnapshot takes a consistent snapshot of the state on the
	// leader; RestoreSnapshot checks one and replaces the cluster's state
	// with it through Raft (a FieldError when it does not check).
	SaveSnapshot(ctx context.Context) (*structs.Backup, error)
	RestoreSnapshot(ctx context.Context, b *structs.Backup) error
	// CreateToken makes an API token with a policy; the answer holds its
	// secret, which is shown this once.
	CreateToken(ctx context.Context, name, policy string) (NewToken, error)
	DeleteToken(ctx context.Context, accessorID string) error
	// RotateToken replaces the cluster secret and returns the new join
	// token.
	RotateToken(ctx context.Context) (string, error)
	// SetSecret seals and stores a secret's value; DeleteSecret refuses
	// (ErrConflict) a secret that a service reads.
	SetSecret(ctx context.Context, name string, value []byte) (*structs.Secret, error)
	DeleteSecret(ctx context.Context, name string) error
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
	Tags            map[string]string `json:"tg,omitempty"`
	Version         string            `json:"v"`
	BootstrapExpect int               `json:"be,omitempty"`
	// Commands is the newest state machine command type the agent applies.
	Commands int       `json:"cmd,omitempty"`
	Leaving  bool      `json:"l,omitempty"`
	Addr     string    `json:"addr"`
	Status   string    `json:"status"`
	Since    time.Time `json:"since"`
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

// RegisterResult is the answer to POST /v1/taskdefs.
type RegisterResult struct {
	TaskDefinition *structs.TaskDefinition `json:"taskDefinition"`
	Warnings       []string                `json:"warnings,omitempty"`
}

// RunRequest is the body of POST /v1/tasks.
type RunRequest struct {
	TaskDefinition json.RawMessage `json:"taskDefinition"`
	Count          int             `json:"count"`
	// Nodes, when given, run one task on each node named (by id or
	// name) instead of Count where the scheduler chooses, all or none.
	Nodes []string `json:"nodes,omitempty"`
	// Cluster is the pool the tasks run in; empty is "default".
	Cluster string `json:"cluster,omitempty"`
}

// RunOptions says where one-off tasks go: Count tasks where the scheduler
// chooses, or one on each of Nodes, within Cluster.
type RunOptions struct {
	Count   int
	Nodes   []string
	Cluster string
}

// PlaceRequest is the body of POST /v1/tasks/{id}/place.
type PlaceRequest struct {
	Node string `json:"node"`
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

// RollbackRequest is the body of POST /v1/services/{name}/rollback.
type RollbackRequest struct {
	TaskDefinition string `json:"taskDefinition"`
}

// ScaleRequest is the body of POST /v1/services/{name}/scale.
type ScaleRequest struct {
	DesiredCount *int `json:"desiredCount"`
}

// Backend errors that map to HTTP statuses.
var (
	ErrNotFound    = structs.ErrNotFound
	ErrUnavailable = errors.New("no leader is available")
	// ErrConflict refuses a request that the cluster's set-up rules out.
	ErrConflict = structs.ErrConflict
	// ErrForbidden is a request the caller may not make whatever its
	// input: an agent reporting for another node.
	ErrForbidden = errors.New("forbidden")
)

// NewHandler returns the /v1 API over b.
func NewHandler(b Backend, log *slog.Logger, opts Options) http.Handler {
	t := PeerTransport()
	s := &server{b: b, log: log, peerScheme: "http", peerTransport: t}
	if opts.PeerTLS != nil {
		// A transport adds its protocols to the configuration it is
		// given, so it gets a copy of the agent's, which is shared.
		t.TLSClientConfig = opts.PeerTLS.Clone()
		s.peerScheme = "https"
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/health", s.wrap(s.health))
	mux.Handle("GET /v1/nodes", s.wrap(s.nodes))
	mux.Handle("GET /v1/taskdefs", s.wrap(s.taskdefs))
	mux.Handle("POST /v1/taskdefs", s.wrap(s.registerTaskDef))
	mux.Handle("GET /v1/services", s.wrap(s.services))
	mux.Handle("GET /v1/services/{name}", s.wrap(s.service))
	mux.Handle("PUT /v1/services/{name}", s.wrap(s.applyService))
	mux.Handle("DELETE /v1/services/{name}", s.wrapStatus(s.deleteService))
	mux.Handle("POST /v1/services/{name}/scale", s.wrap(s.scale))
	mux.Handle("GET /v1/services/{name}/endpoints", s.wrap(s.endpointsOf))
	mux.Handle("GET /v1/schedules", s.wrap(s.schedules))
	mux.Handle("PUT /v1/schedules/{name}", s.wrap(s.applySchedule))
	mux.Handle("DELETE /v1/schedules/{name}", s.wrapStatus(s.deleteSchedule))
	mux.Handle("POST /v1/services/{name}/rollback", s.wrap(s.rollback))
	mux.Handle("POST /v1/services/{name}/restart", s.wrap(s.restart))
	mux.Handle("GET /v1/tasks", s.wrap(s.tasks))
	mux.Handle("GET /v1/deployments", s.wrap(s.deployments))
	mux.Handle("POST /v1/tasks", s.wrap(s.run))
	mux.Handle("GET /v1/tasks/{id}", s.wrap(s.task))
	mux.Handle("POST /v1/tasks/{id}/stop", s.wrap(s.stop))
	mux.Handle("POST /v1/tasks/{id}/place", s.wrap(s.place))
	mux.Handle("GET /v1/services/{name}/pending", s.wrap(s.pending))
	mux.HandleFunc("GET /v1/tasks/{id}/logs", s.logs)
	mux.HandleFunc("GET /v1/tasks/{id}/exec", s.exec)
	mux.HandleFunc("GET /v1/events", s.events)
	mux.HandleFunc("GET "+SnapshotPath, s.saveSnapshot)
	mux.Handle("PUT "+SnapshotPath, s.wrap(s.restoreSnapshot))
	mux.Handle("GET /v1/volumes", s.wrap(s.volumes))
	mux.Handle("GET /v1/usage", s.wrap(s.usage))
	mux.HandleFunc("GET /v1/metrics", func(w http.ResponseWriter, r *http.Request) { s.b.Metrics().ServeHTTP(w, r) })
	mux.Handle("GET /v1/members", s.wrap(s.members))
	mux.Handle("GET /v1/raft/peers", s.wrap(s.peers))
	mux.Handle("POST /v1/nodes/{id}/drain", s.wrap(s.drain))
	mux.Handle("POST /v1/leave", s.wrap(s.leave))
	mux.Handle("POST "+InternalApplyPath, s.wrapStatus(s.internalApply))
	mux.Handle("GET /v1/acl/tokens", s.wrap(s.tokens))
	mux.Handle("POST /v1/acl/tokens", s.wrap(s.createToken))
	mux.Handle("DELETE /v1/acl/tokens/{id}", s.wrapStatus(s.deleteToken))
	mux.Handle("POST /v1/token/rotate", s.wrap(s.rotateToken))
	mux.Handle("GET /v1/secrets", s.wrap(s.secrets))
	mux.Handle("PUT /v1/secrets/{name}", s.wrap(s.setSecret))
	mux.Handle("DELETE /v1/secrets/{name}", s.wrapStatus(s.deleteSecret))
	if opts.UI != nil {
		mux.Handle("GET "+UIPrefix, http.StripPrefix(strings.TrimSuffix(UIPrefix, "/"), opts.UI))
		mux.Handle("GET /{$}", http.RedirectHandler(UIPrefix, http.StatusFound))
	}
	return s.browserGuard(opts, s.authenticate(opts.Authorize, s.forwarding(mux)))
}

// Options tunes the API handler.
type Options struct {
	// RestrictHosts refuses a request whose Host header is neither an IP
	// address, localhost, nor one of Hosts. An agent on loopback (--dev)
	// sets it: a web page could otherwise reach the agent through a name
	// of its own that it points at 127.0.0.1 (DNS rebinding).
	RestrictHosts bool
	Hosts         []string
	// Authorize, when set, tells what a request's token may do; every
	// route but health then needs one. Nil serves every request, which
	// only an agent on loopback (--dev) may do.
	Authorize func(token string) Access
	// PeerTLS, when set, is how this agent calls other agents' APIs when
	// it passes a request on: over https, showing its node certificate
	// and checking theirs. Nil calls them over plain http, as agents
	// without a cluster secret (--dev) serve.
	PeerTLS *tls.Config
	// UI, when set, serves the web UI's files under UIPrefix, and / sends
	// browsers there. The files hold no cluster data, so they are served
	// without a token; the UI's own calls to /v1 need one as any client's do.
	UI http.Handler
}

// UIPrefix is where the web UI is served.
const UIPrefix = "/ui/"

// browserGuard refuses what a web page in the user's browser could send
// on its own: a write that is not JSON (a form or text/plain POST needs no
// preflight, JSON does), an unauthenticated forwarded command that is not
// application/octet-stream, and, with RestrictHosts, a Host header that
// names someone else's domain.
func (s *server) browserGuard(opts Options, next http.Handler) http.Handler {
	hosts := map[string]bool{"localhost": true}
	for _, h := range opts.Hosts {
		hosts[strings.ToLower(h)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opts.RestrictHosts {
			host := r.Host
			if h, _, err := net.SplitHostPort(host); err == nil {
				host = h
			}
			host = strings.Trim(strings.ToLower(host), "[]")
			if net.ParseIP(host) == nil && !hosts[host] {
				s.writeErr(w, r, &statusError{http.StatusForbidden, FieldError{Field: "Host", Message: fmt.Sprintf("%q is not a name of this agent", r.Host)}})
				return
			}
		}
		// A web page can send a write of its own only as a form, plain
		// text or without a content type; any other type needs the
		// agent's consent to a preflight, which it never gives. Agents
		// forward their commands as a type byte and JSON, sent as
		// application/octet-stream, and older releases send no content type
		// at all. Where tokens are checked, a forward needs a node's
		// certificate, which no page has, and is taken whatever type it
		// names, so that a rolling upgrade goes on; where nothing is
		// checked (a --dev agent, or a cluster without a join token) it
		// must name a type no page can send unasked.
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			switch {
			case r.URL.Path == InternalApplyPath && opts.Authorize != nil:
			case r.URL.Path == InternalApplyPath:
				if err != nil || (mt != "application/octet-stream" && mt != "application/json") {
					s.writeErr(w, r, &statusError{http.StatusUnsupportedMediaType, FieldError{Field: "Content-Type", Message: fmt.Sprintf("%q: forwarded commands must be application/octet-stream or application/json", r.Header.Get("Content-Type"))}})
					return
				}
			case err != nil || mt != "application/json":
				s.writeErr(w, r, &statusError{http.StatusUnsupportedMediaType, FieldError{Field: "Content-Type", Message: fmt.Sprintf("%q: writes must be application/json", r.Header.Get("Content-Type"))}})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// forwardedHeader marks a request one agent passed to another, so that a
// request is forwarded at most once.
const forwardedHeader = "X-Skiff-Forwarded"

// forwarding sends writes, and reads that ask for ?consistent, to the
// leader; every other read is served from the local replica. Requests that
// concern this agent itself (leave, logs, exec, forwarded commands) stay
// here.
func (s *server) forwarding(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local := r.URL.Path == "/v1/leave" || r.URL.Path == InternalApplyPath || isLogsPath(r.URL.Path) || isExecPath(r.URL.Path)
		wantsLeader := r.Method != http.MethodGet || r.URL.Query().Has("consistent") || r.URL.Path == SnapshotPath
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

// isLogsPath tells whether path is that of a task's logs. It matches the
// whole route, so that a service named "logs" is still forwarded.
func isLogsPath(path string) bool { return isTaskPath(path, "/logs") }

// PeerTransport is the transport of calls from one agent to another, with
// a bound on every step but the body: a peer that accepts a connection and
// never answers must not hold a request, or a cluster loop, for good. A
// followed log streams its body for as long as the client reads it.
func PeerTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	// A forwarded write waits for its commit, which takes at most the
	// leader's apply timeout of 10 s.
	t.ResponseHeaderTimeout = 30 * time.Second
	t.IdleConnTimeout = 90 * time.Second
	// HTTP/1.1 only: HTTP/2 sends every request to a peer down one
	// connection, and one that a network fault left dead keeps taking
	// requests until each times out, long after the network is back. Over
	// HTTP/1.1 a request that gives up closes its connection, and the
	// next one dials afresh.
	t.ForceAttemptHTTP2 = false
	return t
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
	target := &url.URL{Scheme: s.peerScheme, Host: addr}
	rp := &httputil.ReverseProxy{
		Transport: s.peerTransport,
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

// server holds no state of its own beyond the backend, the logger and
// the transport to other agents, so its handlers may run concurrently, as
// net/http runs them.
type server struct {
	b   Backend
	log *slog.Logger
	// peerScheme and peerTransport are how requests are passed to other agents.
	peerScheme    string
	peerTransport http.RoundTripper
}

// handler is an API handler that answers 200 with its value as JSON, or
// fails with an error that wrap maps to a status. It writes nothing to w
// itself; w is there for http.MaxBytesReader.
type handler func(w http.ResponseWriter, r *http.Request) (any, error)

// statusHandler is a handler that also chooses its success status.
type statusHandler func(w http.ResponseWriter, r *http.Request) (int, any, error)

// wrap turns a handler into an http.Handler answering 200.
func (s *server) wrap(h handler) http.Handler {
	return s.wrapStatus(func(w http.ResponseWriter, r *http.Request) (int, any, error) {
		v, err := h(w, r)
		return http.StatusOK, v, err
	})
}

// wrapStatus turns a statusHandler into an http.Handler: it is the one
// place where answers are encoded and errors become statuses. A 204
// answer has no body, as HTTP requires.
func (s *server) wrapStatus(h statusHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, v, err := h(w, r)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		s.writeJSON(w, r, status, v)
	})
}

// writeJSON encodes v before it writes the status, so that a value that
// cannot be encoded becomes a 500 rather than a 200 with a cut body.
func (s *server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		s.writeErr(w, r, fmt.Errorf("encode answer: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// writeErr maps an error to a status and a JSON body naming the field:
// bad input is 400 (413 for a body over MaxBodyBytes), ErrNotFound 404,
// ErrUnavailable 503 and anything else 500. Errors of the agent itself
// (5xx) are logged; the client's are not.
func (s *server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var fe *FieldError
	var se *statusError
	status := http.StatusInternalServerError
	body := FieldError{Message: err.Error()}
	switch {
	case errors.As(err, &se):
		status, body = se.status, se.FieldError
	case errors.As(err, &fe):
		status, body = http.StatusBadRequest, *fe
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrUnavailable):
		status = http.StatusServiceUnavailable
	case errors.Is(err, ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, ErrForbidden):
		status = http.StatusForbidden
	}
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	raw, _ := json.MarshalIndent(body, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(raw, '\n'))
}

// statusError is bad input answered with a status other than 400.
type statusError struct {
	status int
	FieldError
}

func (e *statusError) Error() string { return e.FieldError.Error() }

// readBody reads at most MaxBodyBytes; a larger body is a FieldError. Every
// handler that takes a body reads it through here, so the cap holds for
// all of them.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &statusError{http.StatusRequestEntityTooLarge, FieldError{Field: "body", Message: fmt.Sprintf("larger than %d bytes", MaxBodyBytes)}}
	}
	return b, err
}

// decodeBody reads a JSON object body into v, refusing fields outside sh
// as decodeStrict does. It returns warnings about ECS fields sh ignores.
func decodeBody(w http.ResponseWriter, r *http.Request, sh *shape, v any) ([]string, error) {
	raw, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	return decodeStrict(raw, sh, v)
}

func (s *server) health(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.b.Health(), nil
}

func (s *server) nodes(w http.ResponseWriter, r *http.Request) (any, error) {
	filters, err := tagFilters(r)
	if err != nil {
		return nil, err
	}
	keep, err := inPool(r)
	if err != nil {
		return nil, err
	}
	out := []*structs.Node{}
	for _, n := range s.b.View().Nodes() {
		if structs.MatchTags(n.Tags, filters) && keep(n.Cluster) {
			out = append(out, n)
		}
	}
	return out, nil
}

// tagFilters reads a listing's tag parameters, each KEY=VALUE or KEY (any
// value): the listing keeps the objects that match all of them.
func tagFilters(r *http.Request) ([]structs.TagFilter, error) {
	var out []structs.TagFilter
	for _, v := range r.URL.Query()["tag"] {
		f, err := structs.ParseTagFilter(v)
		if err != nil {
			return nil, fieldErr("tag", "%v", err)
		}
		out = append(out, f)
	}
	return out, nil
}

// taskTags are the tags a task carries: its definition's, and its
// service's, whose value wins for a key both have.
func taskTags(st State, t *structs.Task) []structs.Tag {
	var tags []structs.Tag
	if td := st.TaskDefinition(t.TaskDefinition); td != nil {
		tags = td.Tags
	}
	if svc := st.Service(t.Service); t.Service != "" && svc != nil {
		tags = structs.MergeTags(tags, svc.Tags)
	}
	return tags
}

func (s *server) taskdefs(w http.ResponseWriter, r *http.Request) (any, error) {
	return nonNil(s.b.View().TaskDefinitions()), nil
}

// status counts the tasks of svc that should run, by whether they do yet.
func status(st State, svc *structs.Service) ServiceStatus {
	out := ServiceStatus{Service: *svc, Message: svc.PlacementFailure.String()}
	if svc.IsDaemon() {
		// A daemon's desired count is the number of nodes meant for it,
		// as ECS reports it.
		for _, n := range st.Nodes() {
			if svc.MeantFor(n) {
				out.DesiredCount++
			}
		}
	}
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

func (s *server) services(w http.ResponseWriter, r *http.Request) (any, error) {
	filters, err := tagFilters(r)
	if err != nil {
		return nil, err
	}
	keep, err := inPool(r)
	if err != nil {
		return nil, err
	}
	st := s.b.View()
	out := []ServiceStatus{}
	for _, svc := range st.Services() {
		if structs.MatchTags(svc.Tags, filters) && keep(svc.Cluster) {
			out = append(out, status(st, svc))
		}
	}
	return out, nil
}

// deployments lists the deployments of every service, or of the one the
// service parameter names, newest first.
func (s *server) deployments(w http.ResponseWriter, r *http.Request) (any, error) {
	st := s.b.View()
	svcs := st.Services()
	if name := r.URL.Query().Get("service"); name != "" {
		svc := st.Service(name)
		if svc == nil {
			return nil, fmt.Errorf("service %s: %w", name, ErrNotFound)
		}
		svcs = []*structs.Service{svc}
	}
	out := []structs.Deployment{}
	for _, svc := range svcs {
		out = append(out, svc.Deployments...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt > out[j].CreatedAt })
	return out, nil
}

func (s *server) service(w http.ResponseWriter, r *http.Request) (any, error) {
	st := s.b.View()
	svc := st.Service(r.PathValue("name"))
	if svc == nil {
		return nil, fmt.Errorf("service %s: %w", r.PathValue("name"), ErrNotFound)
	}
	return status(st, svc), nil
}

// applyService reads the body itself rather than through decodeBody
// because a service file has its own strict decoder, DecodeServiceFile,
// which the CLI also uses offline.
func (s *server) applyService(w http.ResponseWriter, r *http.Request) (any, error) {
	raw, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	svc, td, warnings, err := DecodeServiceFile(raw)
	if err != nil {
		return nil, err
	}
	if svc.Name != r.PathValue("name") {
		return nil, fieldErr("service", "%q differs from the name in the path, %q", svc.Name, r.PathValue("name"))
	}
	view := s.b.View()
	def := td
	if td == nil {
		def = registered(view, svc.TaskDefinition)
		if def == nil {
			return nil, fieldErr("taskDefinition", "%q is not a registered task definition; register it with `skiff taskdefs register -f FILE`, or give the definition inline", svc.TaskDefinition)
		}
		// The secrets a registered definition reads may have been removed
		// since it was registered.
		if err := checkSecretsExist(view, def, "taskDefinition("+def.Ref()+")"); err != nil {
			return nil, err
		}
	} else if err := checkSecretsExist(view, td, "taskDefinition"); err != nil {
		return nil, err
	}
	if err := checkLoadBalancerTargets(view, svc, def); err != nil {
		return nil, err
	}
	tdField := "taskDefinition"
	if td == nil {
		tdField = "taskDefinition(" + def.Ref() + ")"
	}
	if err := checkReservedPorts(view, svc, def, tdField); err != nil {
		return nil, err
	}
	out, err := s.b.ApplyService(r.Context(), svc, td)
	if err != nil {
		return nil, err
	}
	return ApplyResult{Service: out, Warnings: warnings}, nil
}

// registered returns the definition of the view that ref, a family (its
// newest revision) or family:revision, names, or nil. Writes reach this
// check on the leader, whose view has every acknowledged registration; the
// state machine checks again.
func registered(st State, ref string) *structs.TaskDefinition {
	if strings.Contains(ref, ":") {
		return st.TaskDefinition(ref)
	}
	var newest *structs.TaskDefinition
	for _, td := range st.TaskDefinitions() {
		if td.Family == ref && (newest == nil || td.Revision > newest.Revision) {
			newest = td
		}
	}
	return newest
}

// registerTaskDef registers a task definition, bare or as
// describe-task-definition prints it.
func (s *server) registerTaskDef(w http.ResponseWriter, r *http.Request) (any, error) {
	raw, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	td, warnings, err := DecodeTaskDefinition(raw)
	if err != nil {
		return nil, err
	}
	if err := checkSecretsExist(s.b.View(), td, ""); err != nil {
		return nil, err
	}
	out, err := s.b.RegisterTaskDefinition(r.Context(), td)
	if err != nil {
		return nil, err
	}
	return RegisterResult{TaskDefinition: out, Warnings: warnings}, nil
}

func (s *server) deleteService(w http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := s.b.DeleteService(r.Context(), r.PathValue("name")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// scale decodes leniently, as it always has: any body that does not give
// a desiredCount is answered with what desiredCount must be.
func (s *server) scale(w http.ResponseWriter, r *http.Request) (any, error) {
	raw, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	var req ScaleRequest
	if err := json.Unmarshal(raw, &req); err != nil || req.DesiredCount == nil {
		return nil, fieldErr("desiredCount", "required: a whole number from 0 to %d", MaxDesiredCount)
	}
	if n := *req.DesiredCount; n < 0 || n > MaxDesiredCount {
		return nil, fieldErr("desiredCount", "%d is out of range: expected 0 to %d", n, MaxDesiredCount)
	}
	if svc := s.b.View().Service(r.PathValue("name")); svc != nil && svc.IsDaemon() {
		// The state machine refuses it too; this answers with a conflict
		// rather than a failed commit.
		return nil, fmt.Errorf("%w: service %s is a %s service, which runs one task on every eligible node: it has no desired count to scale",
			ErrConflict, svc.Name, structs.SchedulingDaemon)
	}
	if err := s.b.ScaleService(r.Context(), r.PathValue("name"), *req.DesiredCount); err != nil {
		return nil, err
	}
	return s.b.View().Service(r.PathValue("name")), nil
}

// rollback points a service back at a revision of its family it names.
func (s *server) rollback(w http.ResponseWriter, r *http.Request) (any, error) {
	raw, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	var req RollbackRequest
	if err := json.Unmarshal(raw, &req); err != nil || req.TaskDefinition == "" {
		return nil, fieldErr("taskDefinition", "required: the family:revision to roll back to")
	}
	if err := checkTaskDefRef("taskDefinition", req.TaskDefinition); err != nil {
		return nil, err
	}
	if err := s.b.SetServiceRevision(r.Context(), r.PathValue("name"), req.TaskDefinition, false); err != nil {
		return nil, err
	}
	return s.b.View().Service(r.PathValue("name")), nil
}

// restart replaces a service's tasks with new ones of its revision, as a
// deployment does.
func (s *server) restart(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := s.b.SetServiceRevision(r.Context(), r.PathValue("name"), "", true); err != nil {
		return nil, err
	}
	return s.b.View().Service(r.PathValue("name")), nil
}

func (s *server) tasks(w http.ResponseWriter, r *http.Request) (any, error) {
	filters, err := tagFilters(r)
	if err != nil {
		return nil, err
	}
	st := s.b.View()
	var list []*structs.Task
	if svc := r.URL.Query().Get("service"); svc != "" {
		list = st.TasksByService(svc)
	} else {
		list = st.Tasks()
	}
	keep, err := inPool(r)
	if err != nil {
		return nil, err
	}
	all := r.URL.Query().Has("all")
	out := make([]*structs.Task, 0, len(list))
	for _, t := range list {
		if (all || !t.Terminal()) && keep(t.Cluster) && (len(filters) == 0 || structs.MatchTags(taskTags(st, t), filters)) {
			out = append(out, t)
		}
	}
	return out, nil
}

// resolveTask finds a task by its id or by a unique prefix or suffix of it,
// so that people can type the short ids `skiff ps` shows (the end of the
// id) or the start of one, as with container ids.
func resolveTask(st State, id string) (*structs.Task, error) {
	if t := st.Task(id); t != nil {
		return t, nil
	}
	var found *structs.Task
	if id != "" {
		for _, t := range st.Tasks() {
			if strings.HasPrefix(t.ID, id) || strings.HasSuffix(t.ID, id) {
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

func (s *server) task(w http.ResponseWriter, r *http.Request) (any, error) {
	return resolveTask(s.b.View(), r.PathValue("id"))
}

var runShape = &shape{acted: map[string]*shape{"taskDefinition": nil, "count": nil, "nodes": nil, "cluster": nil}}

func (s *server) run(w http.ResponseWriter, r *http.Request) (any, error) {
	var req RunRequest
	if _, err := decodeBody(w, r, runShape, &req); err != nil {
		return nil, err
	}
	if req.Count == 0 {
		req.Count = 1
	}
	if req.Count < 1 || req.Count > maxRunTaskCount {
		return nil, fieldErr("count", "%d is out of range: expected 1 to %d", req.Count, maxRunTaskCount)
	}
	if len(req.Nodes) > 0 && req.Count != 1 {
		return nil, fieldErr("count", "%d with nodes: a run on named nodes starts one task on each node", req.Count)
	}
	if len(req.Nodes) > maxRunTaskCount {
		return nil, fieldErr("nodes", "%d nodes: at most %d", len(req.Nodes), maxRunTaskCount)
	}
	for i, n := range req.Nodes {
		if n == "" {
			return nil, fieldErr(fmt.Sprintf("nodes[%d]", i), "empty: expected a node id or name")
		}
	}
	cluster, err := clusterOf("cluster", req.Cluster)
	if err != nil {
		return nil, err
	}
	if len(req.TaskDefinition) == 0 {
		return nil, fieldErr("taskDefinition", "required: an ECS task definition")
	}
	td, warnings, err := DecodeTaskDefinition(req.TaskDefinition)
	if err != nil {
		// The definition is decoded on its own, so its field paths are
		// made relative to the request body here.
		var fe *FieldError
		if errors.As(err, &fe) && fe.Field != "body" {
			fe.Field = join("taskDefinition", fe.Field)
		}
		return nil, err
	}
	if err := checkSecretsExist(s.b.View(), td, "taskDefinition"); err != nil {
		return nil, err
	}
	tasks, failure, err := s.b.RunTasks(r.Context(), td, RunOptions{Count: req.Count, Nodes: req.Nodes, Cluster: cluster})
	if err != nil {
		return nil, err
	}
	return RunResult{Tasks: nonNil(tasks), Failure: failure.String(), PlacementFailure: failure, Warnings: warnings}, nil
}

func (s *server) stop(w http.ResponseWriter, r *http.Request) (any, error) {
	t, err := resolveTask(s.b.View(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := s.b.StopTask(r.Context(), t.ID); err != nil {
		return nil, err
	}
	return s.b.View().Task(t.ID), nil
}

// logs streams text, not JSON, so it writes its answer itself. Errors
// before the first byte of the stream get the usual JSON error answer;
// once the stream has begun, the status is sent and an error can only end
// it. The backend stops when the request's context ends, that is when the
// client goes away.
func (s *server) logs(w http.ResponseWriter, r *http.Request) {
	opts, err := parseLogOptions(r.URL.Query())
	if err != nil {
		s.writeErr(w, r, err)
		return
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
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fw := &flushWriter{w: w}
	if f, ok := w.(http.Flusher); ok {
		fw.f = f
	}
	if err := s.b.Logs(r.Context(), t.ID, r.URL.Query().Get("container"), opts, fw); err != nil {
		if fw.wrote {
			s.log.Warn("log stream ended", "task", r.PathValue("id"), "err", err)
			return
		}
		s.writeErr(w, r, err)
	}
}

func (s *server) members(w http.ResponseWriter, r *http.Request) (any, error) {
	return nonNil(s.b.Members()), nil
}

func (s *server) peers(w http.ResponseWriter, r *http.Request) (any, error) {
	peers, err := s.b.RaftPeers(r.Context())
	if err != nil {
		return nil, err
	}
	return nonNil(peers), nil
}

var drainShape = &shape{acted: map[string]*shape{"enable": nil}}

func (s *server) drain(w http.ResponseWriter, r *http.Request) (any, error) {
	var req DrainRequest
	if _, err := decodeBody(w, r, drainShape, &req); err != nil {
		return nil, err
	}
	return s.b.Drain(r.Context(), r.PathValue("id"), req.Enable)
}

func (s *server) leave(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := s.b.Leave(r.Context()); err != nil {
		return nil, err
	}
	return s.b.Health(), nil
}

// internalApply answers every outcome of a command in an ApplyAnswer,
// which the forwarding agent reads whatever the status; only a body it
// cannot read gets the usual error answer.
func (s *server) internalApply(w http.ResponseWriter, r *http.Request) (int, any, error) {
	raw, err := readBody(w, r)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.b.ApplyInternal(r.Context(), PeerNode(r), raw)
	if err != nil {
		var fe *FieldError
		status := http.StatusOK
		switch {
		case errors.As(err, &fe):
			status = http.StatusBadRequest
		case errors.Is(err, ErrUnavailable):
			status = http.StatusServiceUnavailable
		case errors.Is(err, ErrForbidden):
			status = http.StatusForbidden
		}
		return status, ApplyAnswer{Error: err.Error()}, nil
	}
	return http.StatusOK, ApplyAnswer{Result: res}, nil
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
