package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// Client calls a skiff agent's API. It is safe for concurrent use once its
// fields are set; they must not change while calls are under way.
type Client struct {
	base string
	http *http.Client
	// upgrade is the HTTP/1.1 client of WebSocket handshakes, which
	// HTTP/2 cannot carry.
	upgrade *http.Client
	// Consistent makes reads go through the leader instead of the local
	// replica of the agent asked.
	Consistent bool
	// Timeout bounds each call, from sending the request to reading the
	// whole answer, so that an agent that hangs cannot hang its caller.
	// A followed log stream is not bounded: it lasts as long as the
	// caller's ctx. Zero means no bound.
	Timeout time.Duration
	// Token is the API token sent with every request.
	Token string
	// Cluster, when set, limits the listings of nodes, services and tasks
	// to that pool.
	Cluster string
}

// DefaultTimeout is the Timeout NewClient sets. It leaves room for a write
// the leader has to commit while a new leader is being elected.
const DefaultTimeout = 30 * time.Second

// NewClient returns a client for an agent address: "https://host:port",
// "http://host:port", or a bare "host:port", which is https when tlsConfig
// is set and http otherwise. tlsConfig is how the client checks the agent
// over https: one that trusts the cluster's CA (pki.ClientTLS), or a
// node's own mutual TLS between agents. Nil is for agents without a
// cluster secret (--dev), which serve plain http.
func NewClient(addr string, tlsConfig *tls.Config) *Client {
	if !strings.Contains(addr, "://") {
		scheme := "http://"
		if tlsConfig != nil {
			scheme = "https://"
		}
		addr = scheme + addr
	}
	hc := &http.Client{}
	if tlsConfig != nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// A transport adds its protocols to the configuration it is
		// given, so it gets a copy of the caller's, which may be shared.
		t.TLSClientConfig = tlsConfig.Clone()
		hc.Transport = t
	}
	return &Client{base: strings.TrimRight(addr, "/"), http: hc, upgrade: upgradeClient(tlsConfig), Timeout: DefaultTimeout}
}

// Words of the two ends of a scheme mismatch: what Go's https server
// answers to a plain http request, and what Go's client says of a plain
// http answer to https.
const (
	httpToHTTPS = "Client sent an HTTP request to an HTTPS server"
	httpsToHTTP = "server gave HTTP response to HTTPS client"
)

// timeoutError is the cause of a call's context when the client's Timeout
// ends it, which tells it apart from the caller's own deadline. It is a
// context.DeadlineExceeded, so callers that test for that still see one.
type timeoutError struct{ d time.Duration }

func (e *timeoutError) Error() string { return fmt.Sprintf("no answer within %v", e.d) }
func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }

// bound limits ctx to the client's Timeout. The bound is applied through
// the request's context rather than http.Client.Timeout, so that streams
// can be left unbounded.
func (c *Client) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.Timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, c.Timeout, &timeoutError{c.Timeout})
}

// explain replaces err by the client's timeout when that is what ended the
// call, since the transport's own words for it do not say what waited on
// what.
func (c *Client) explain(ctx context.Context, err error) error {
	var te *timeoutError
	if errors.As(context.Cause(ctx), &te) {
		return te
	}
	return err
}

// Error is an API error answer: the status, and the field at fault.
type Error struct {
	Status  int
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" && e.Field != "body" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, c.explain(ctx, err))
	}
	return nil
}

// send performs a request and turns a non-2xx answer into *Error. The
// caller bounds ctx and closes the answer's body.
func (c *Client) send(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	return c.request(ctx, method, path, body, "")
}

// sendAccept is send for a GET that asks for a media type.
func (c *Client) sendAccept(ctx context.Context, path, accept string) (*http.Response, error) {
	return c.request(ctx, http.MethodGet, path, nil, accept)
}

func (c *Client) request(ctx context.Context, method, path string, body []byte, accept string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	if c.Consistent && method == http.MethodGet {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "consistent"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	// Every write is JSON, even without a body: agents refuse any other
	// content type, which a web page could send on its own.
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), httpsToHTTP) {
			return nil, fmt.Errorf("the skiff agent at %s serves plain http (an agent without a cluster token, as with --dev): give an http:// address in --addr or SKIFF_ADDR", c.base)
		}
		return nil, fmt.Errorf("cannot reach the skiff agent at %s: %w", c.base, c.explain(ctx, err))
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var fe FieldError
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusBadRequest && bytes.Contains(raw, []byte(httpToHTTPS)) {
		return nil, fmt.Errorf("the skiff agent at %s serves https: give an https:// address (or host:port) in --addr or SKIFF_ADDR, and the cluster's CA certificate with --cacert or SKIFF_CACERT (agents write it to <data-dir>/ca.pem)", c.base)
	}
	if json.Unmarshal(raw, &fe) != nil || fe.Message == "" {
		fe.Message = strings.TrimSpace(string(raw))
	}
	return nil, &Error{Status: resp.StatusCode, Field: fe.Field, Message: fe.Message}
}

// Health asks the agent how it is.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	return h, c.do(ctx, http.MethodGet, "/v1/health", nil, &h)
}

// Nodes lists the nodes, only those with every tag given (KEY=VALUE, or
// KEY for any value) when tags are.
func (c *Client) Nodes(ctx context.Context, tags ...string) ([]*structs.Node, error) {
	var out []*structs.Node
	return out, c.do(ctx, http.MethodGet, "/v1/nodes"+c.listQuery(tags), nil, &out)
}

// listQuery is the query of a listing: its tag filters and the client's
// pool, "" without either.
func (c *Client) listQuery(tags []string) string {
	q := url.Values{}
	if len(tags) > 0 {
		q["tag"] = tags
	}
	if c.Cluster != "" {
		q.Set("cluster", c.Cluster)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// TaskDefinitions lists every registered revision.
func (c *Client) TaskDefinitions(ctx context.Context) ([]*structs.TaskDefinition, error) {
	var out []*structs.TaskDefinition
	return out, c.do(ctx, http.MethodGet, "/v1/taskdefs", nil, &out)
}

// Services lists the services, only those with every tag given when tags
// are.
func (c *Client) Services(ctx context.Context, tags ...string) ([]ServiceStatus, error) {
	var out []ServiceStatus
	return out, c.do(ctx, http.MethodGet, "/v1/services"+c.listQuery(tags), nil, &out)
}

// Service fetches one service with its task counts.
func (c *Client) Service(ctx context.Context, name string) (ServiceStatus, error) {
	var out ServiceStatus
	return out, c.do(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(name), nil, &out)
}

// ApplyService sends a service file; name must be the file's service name.
func (c *Client) ApplyService(ctx context.Context, name string, file []byte) (ApplyResult, error) {
	var out ApplyResult
	return out, c.do(ctx, http.MethodPut, "/v1/services/"+url.PathEscape(name), file, &out)
}

// RegisterTaskDefinition registers an ECS task definition given as JSON,
// bare or as describe-task-definition prints it.
func (c *Client) RegisterTaskDefinition(ctx context.Context, file []byte) (RegisterResult, error) {
	var out RegisterResult
	return out, c.do(ctx, http.MethodPost, "/v1/taskdefs", file, &out)
}

// DeleteService removes a service and stops its tasks.
func (c *Client) DeleteService(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/services/"+url.PathEscape(name), nil, nil)
}

// Rollback points a service at another revision of its family.
func (c *Client) Rollback(ctx context.Context, name, taskDefinition string) (*structs.Service, error) {
	body, _ := json.Marshal(RollbackRequest{TaskDefinition: taskDefinition})
	var out structs.Service
	return &out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(name)+"/rollback", body, &out)
}

// Restart replaces a service's tasks with new ones of its revision.
func (c *Client) Restart(ctx context.Context, name string) (*structs.Service, error) {
	var out structs.Service
	return &out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(name)+"/restart", nil, &out)
}

// Scale sets a service's desired count.
func (c *Client) Scale(ctx context.Context, name string, count int) (*structs.Service, error) {
	body, _ := json.Marshal(ScaleRequest{DesiredCount: &count})
	var out structs.Service
	return &out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(name)+"/scale", body, &out)
}

// Tasks lists tasks, of one service when service is set, stopped ones too
// when all is set, and only those with every tag given (their definition's
// and their service's) when tags are.
func (c *Client) Tasks(ctx context.Context, service string, all bool, tags ...string) ([]*structs.Task, error) {
	q := url.Values{}
	if service != "" {
		q.Set("service", service)
	}
	if all {
		q.Set("all", "1")
	}
	for _, t := range tags {
		q.Add("tag", t)
	}
	if c.Cluster != "" {
		q.Set("cluster", c.Cluster)
	}
	var out []*structs.Task
	return out, c.do(ctx, http.MethodGet, "/v1/tasks?"+q.Encode(), nil, &out)
}

// Deployments lists deployments, newest first, of one service when
// service is set.
func (c *Client) Deployments(ctx context.Context, service string) ([]structs.Deployment, error) {
	q := url.Values{}
	if service != "" {
		q.Set("service", service)
	}
	var out []structs.Deployment
	return out, c.do(ctx, http.MethodGet, "/v1/deployments?"+q.Encode(), nil, &out)
}

// Task fetches one task.
func (c *Client) Task(ctx context.Context, id string) (*structs.Task, error) {
	var out structs.Task
	return &out, c.do(ctx, http.MethodGet, "/v1/tasks/"+url.PathEscape(id), nil, &out)
}

// Run starts count one-off tasks of a task definition given as ECS JSON.
func (c *Client) Run(ctx context.Context, taskDef []byte, count int) (RunResult, error) {
	return c.RunWith(ctx, taskDef, RunOptions{Count: count})
}

// poolQuery is the ?cluster filter of the client's Cluster, after sep,
// or "" when it has none.
func (c *Client) poolQuery(sep string) string {
	if c.Cluster == "" {
		return ""
	}
	return sep + url.Values{"cluster": {c.Cluster}}.Encode()
}

// Stop asks for a task to stop.
func (c *Client) Stop(ctx context.Context, id string) (*structs.Task, error) {
	var out structs.Task
	return &out, c.do(ctx, http.MethodPost, "/v1/tasks/"+url.PathEscape(id)+"/stop", nil, &out)
}

// Logs copies a task container's output to w. With follow it copies until
// ctx ends or the task stops, however long that takes; without, Timeout
// bounds the whole copy.
func (c *Client) Logs(ctx context.Context, id, container string, follow bool, w io.Writer) error {
	return c.LogsWith(ctx, id, container, structs.LogOptions{Follow: follow, Tail: structs.AllLines}, w)
}

// LogsWith is Logs with the choice of what to read: the last lines only,
// those since a time, with the time of each.
func (c *Client) LogsWith(ctx context.Context, id, container string, opts structs.LogOptions, w io.Writer) error {
	if !opts.Follow {
		var cancel context.CancelFunc
		ctx, cancel = c.bound(ctx)
		defer cancel()
	}
	resp, err := c.send(ctx, http.MethodGet, "/v1/tasks/"+url.PathEscape(id)+"/logs?"+logQuery(container, opts).Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("logs of %s: %w", id, c.explain(ctx, err))
	}
	return nil
}

// Metrics fetches the agent's metrics in the Prometheus exposition
// format, as a scraper would.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	resp, err := c.send(ctx, http.MethodGet, "/v1/metrics", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET /v1/metrics: %w", c.explain(ctx, err))
	}
	return raw, nil
}

// Usage asks what every node (or, with node set, that one: an id, id
// prefix or name) offers, reserves and uses.
func (c *Client) Usage(ctx context.Context, node string) ([]structs.NodeUsage, error) {
	path := "/v1/usage"
	if node != "" {
		path += "?" + url.Values{"node": {node}}.Encode()
	}
	var out []structs.NodeUsage
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Members lists the gossip view of the cluster.
// Volumes lists the volumes skiff made on every node.
func (c *Client) Volumes(ctx context.Context) ([]structs.NodeVolume, error) {
	var out []structs.NodeVolume
	return out, c.do(ctx, http.MethodGet, "/v1/volumes", nil, &out)
}

func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var out []Member
	return out, c.do(ctx, http.MethodGet, "/v1/members", nil, &out)
}

// RaftPeers lists the Raft configuration.
func (c *Client) RaftPeers(ctx context.Context) ([]RaftPeer, error) {
	var out []RaftPeer
	return out, c.do(ctx, http.MethodGet, "/v1/raft/peers", nil, &out)
}

// Drain makes a node ineligible (enable) or eligible again.
func (c *Client) Drain(ctx context.Context, node string, enable bool) (*structs.Node, error) {
	body, _ := json.Marshal(DrainRequest{Enable: enable})
	var out structs.Node
	return &out, c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(node)+"/drain", body, &out)
}

// Leave asks the agent to leave the cluster and stop.
func (c *Client) Leave(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/leave", nil, nil)
}

// CreateToken makes an API token with a policy (structs.PolicyManagement
// or structs.PolicyReadOnly); its secret is in the answer, and only there.
func (c *Client) CreateToken(ctx context.Context, name, policy string) (NewToken, error) {
	body, _ := json.Marshal(TokenRequest{Name: name, Policy: policy})
	var out NewToken
	return out, c.do(ctx, http.MethodPost, "/v1/acl/tokens", body, &out)
}

// Tokens lists the API tokens, without their secrets.
func (c *Client) Tokens(ctx context.Context) ([]TokenInfo, error) {
	var out []TokenInfo
	return out, c.do(ctx, http.MethodGet, "/v1/acl/tokens", nil, &out)
}

// DeleteToken revokes an API token by its accessor id.
func (c *Client) DeleteToken(ctx context.Context, accessorID string) error {
	return c.do(ctx, http.MethodDelete, "/v1/acl/tokens/"+url.PathEscape(accessorID), nil, nil)
}

// EventsQuery selects events for Events and StreamEvents.
type EventsQuery struct {
	// Topics filter the events, as NAME:VALUE (service:web, node:pi-1,
	// task:ID, deployment:ID, kind:task.stopped); see GET /v1/events.
	Topics []string
	// Tags keep only the events with every tag given (KEY=VALUE, or KEY
	// for any value): the tags of what they concern when recorded.
	Tags []string
	// Since asks for the events of entries after this log index; 0 asks
	// for every event kept.
	Since uint64
	// Block makes Events wait, up to Wait (the agent's default when 0),
	// until an event after Since passes the filter.
	Block bool
	Wait  time.Duration
}

func (q EventsQuery) values() url.Values {
	v := url.Values{"since": {strconv.FormatUint(q.Since, 10)}}
	for _, t := range q.Topics {
		v.Add("topic", t)
	}
	for _, t := range q.Tags {
		v.Add("tag", t)
	}
	switch {
	case !q.Block:
		v.Set("wait", "0s")
	case q.Wait > 0:
		v.Set("wait", q.Wait.String())
	}
	return v
}

// Events asks for the events after q.Since, by long poll when q.Block is
// set. The next call's Since is the answer's Index.
func (c *Client) Events(ctx context.Context, q EventsQuery) (EventsAnswer, error) {
	var out EventsAnswer
	if q.Block {
		// The agent answers within the wait; the client's own bound
		// comes on top of it.
		wait := q.Wait
		if wait <= 0 {
			wait = DefaultEventsWait
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait+c.Timeout)
		defer cancel()
		saved := *c
		saved.Timeout = 0
		return out, saved.do(ctx, http.MethodGet, "/v1/events?"+q.values().Encode(), nil, &out)
	}
	return out, c.do(ctx, http.MethodGet, "/v1/events?"+q.values().Encode(), nil, &out)
}

// StreamItem is one item of an event stream: an event, or the news that
// the agent no longer keeps the events up to LostThrough that the stream
// would have carried.
type StreamItem struct {
	Event       *structs.Event
	LostThrough uint64
}

// maxEventLine bounds one line of an event stream, far above any event.
const maxEventLine = 1 << 20

// StreamEvents follows the agent's events as Server-Sent Events, calling
// fn for each in order, from the events kept after q.Since, until ctx
// ends, fn fails or the agent hangs up. It returns nil when ctx ends.
func (c *Client) StreamEvents(ctx context.Context, q EventsQuery, fn func(StreamItem) error) error {
	q.Block = false
	v := q.values()
	v.Del("wait")
	saved := *c
	saved.Timeout = 0
	resp, err := saved.sendAccept(ctx, "/v1/events?"+v.Encode(), "text/event-stream")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return fmt.Errorf("GET /v1/events: the agent answered %q, not an event stream", resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	var kind string
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if len(data) > 0 {
				item, err := decodeStreamItem(kind, data)
				if err != nil {
					return err
				}
				if err := fn(item); err != nil {
					return err
				}
			}
			kind, data = "", data[:0]
		case bytes.HasPrefix(line, []byte("data:")):
			data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
		case bytes.HasPrefix(line, []byte("event:")):
			kind = string(bytes.TrimSpace(bytes.TrimPrefix(line, []byte("event:"))))
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("event stream: %w", err)
	}
	return errors.New("event stream: the agent closed it")
}

func decodeStreamItem(kind string, data []byte) (StreamItem, error) {
	if kind == "missed" {
		var m struct {
			LostThrough uint64 `json:"lostThrough"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return StreamItem{}, fmt.Errorf("event stream: decode %s: %w", kind, err)
		}
		return StreamItem{LostThrough: m.LostThrough}, nil
	}
	var e structs.Event
	if err := json.Unmarshal(data, &e); err != nil {
		return StreamItem{}, fmt.Errorf("event stream: decode event: %w", err)
	}
	return StreamItem{Event: &e}, nil
}

// SaveSnapshot copies a consistent snapshot of the cluster's state, taken
// by the leader, to w. It is bounded by ctx alone: a large state takes
// longer than one call's Timeout to send.
func (c *Client) SaveSnapshot(ctx context.Context, w io.Writer) error {
	resp, err := c.send(ctx, http.MethodGet, SnapshotPath, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("GET %s: %w", SnapshotPath, err)
	}
	return nil
}

// RestoreSnapshot replaces the cluster's state with a saved snapshot. The
// leader checks the whole file before it changes anything.
func (c *Client) RestoreSnapshot(ctx context.Context, snapshot []byte) (RestoreResult, error) {
	var out RestoreResult
	saved := *c
	saved.Timeout = 0
	return out, saved.do(ctx, http.MethodPut, SnapshotPath, snapshot, &out)
}
