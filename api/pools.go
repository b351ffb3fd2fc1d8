package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// clusterOf checks a pool name as a service file, a run or a listing
// gives it and returns the pool: the name, or the name an ECS cluster ARN
// (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME) ends in, or DefaultCluster for
// none.
func clusterOf(field, c string) (string, error) {
	if strings.HasPrefix(c, "arn:") {
		if _, name, ok := strings.Cut(c, ":cluster/"); ok {
			c = name
		}
	}
	if c == "" {
		return structs.DefaultCluster, nil
	}
	if err := checkName(field, c); err != nil {
		return "", err
	}
	return c, nil
}

// CheckCluster checks a pool name; empty names the default pool.
func CheckCluster(field, c string) error {
	_, err := clusterOf(field, c)
	return err
}

// inPool reads a listing's ?cluster filter: a function that keeps what
// belongs to the pool named, or keeps everything when none is.
func inPool(r *http.Request) (func(cluster string) bool, error) {
	if !r.URL.Query().Has("cluster") {
		return func(string) bool { return true }, nil
	}
	want, err := clusterOf("cluster", r.URL.Query().Get("cluster"))
	if err != nil {
		return nil, err
	}
	return func(c string) bool { return structs.ClusterName(c) == want }, nil
}

// PendingTasks is the answer of GET /v1/services/{name}/pending: the
// service's tasks that wait for a node, with the index to pass to the
// next blocking query. Nodes are the pool's nodes, which the placements
// choose from.
type PendingTasks struct {
	Index     uint64          `json:"index"`
	Service   string          `json:"service"`
	Cluster   string          `json:"cluster"`
	Scheduler string          `json:"scheduler,omitempty"`
	Tasks     []*structs.Task `json:"tasks"`
	Nodes     []*structs.Node `json:"nodes"`
}

// pending answers the tasks of a service that wait for an outside
// scheduler. With ?index=N it blocks until the service, its tasks or any
// node changed after N, or ?wait (a Go duration, default DefaultWait, at
// most MaxWait) passes; the answer's index is the one to wait on next.
func (s *server) pending(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("name")
	q := r.URL.Query()
	var after uint64
	if q.Has("index") {
		n, err := strconv.ParseUint(q.Get("index"), 10, 64)
		if err != nil {
			return nil, fieldErr("index", "%q: expected a state index, a whole number", q.Get("index"))
		}
		after = n
	}
	wait := DefaultWait
	if q.Has("wait") {
		d, err := time.ParseDuration(q.Get("wait"))
		if err != nil || d < 0 || d > MaxWait {
			return nil, fieldErr("wait", "%q: expected a duration from 0s to %s, such as 30s", q.Get("wait"), MaxWait)
		}
		wait = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	for {
		// The watch is taken before the view, so that a change between
		// the two wakes the wait below.
		changed := s.b.Changed()
		st := s.b.View()
		svc := st.Service(name)
		if svc == nil {
			return nil, fmt.Errorf("service %s: %w", name, ErrNotFound)
		}
		index := serviceIndex(st, name)
		if index > after {
			w.Header().Set(IndexHeader, strconv.FormatUint(index, 10))
			return pendingOf(st, svc, index), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			w.Header().Set(IndexHeader, strconv.FormatUint(index, 10))
			return pendingOf(st, svc, index), nil
		}
	}
}

func pendingOf(st State, svc *structs.Service, index uint64) PendingTasks {
	out := PendingTasks{Index: index, Service: svc.Name, Cluster: structs.ClusterName(svc.Cluster), Scheduler: svc.Scheduler,
		Tasks: []*structs.Task{}, Nodes: []*structs.Node{}}
	for _, t := range st.TasksByService(svc.Name) {
		if t.Unplaced() && t.DesiredStatus == structs.StatusRunning && !t.Terminal() {
			out.Tasks = append(out.Tasks, t)
		}
	}
	for _, n := range st.Nodes() {
		if n.InCluster(svc.Cluster) {
			out.Nodes = append(out.Nodes, n)
		}
	}
	return out
}

var placeShape = &shape{acted: map[string]*shape{"node": nil}}

// place gives an unplaced task of a service with an external scheduler a
// node. Like every write it needs a management token.
func (s *server) place(w http.ResponseWriter, r *http.Request) (any, error) {
	var req PlaceRequest
	if _, err := decodeBody(w, r, placeShape, &req); err != nil {
		return nil, err
	}
	if req.Node == "" {
		return nil, fieldErr("node", "required: the id or name of the node to place the task on")
	}
	t, err := resolveTask(s.b.View(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return s.b.PlaceTask(r.Context(), t.ID, req.Node)
}

// Pending asks for a service's tasks that wait for an outside scheduler.
// With index > 0 the agent answers once something changed after it, or
// after wait; the call's own Timeout is stretched to cover the wait.
func (c *Client) Pending(ctx context.Context, service string, index uint64, wait time.Duration) (PendingTasks, error) {
	q := url.Values{}
	if index > 0 {
		q.Set("index", strconv.FormatUint(index, 10))
		q.Set("wait", wait.String())
	}
	cc := *c
	if cc.Timeout > 0 {
		cc.Timeout += wait
	}
	var out PendingTasks
	return out, cc.do(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(service)+"/pending?"+q.Encode(), nil, &out)
}

// PlaceTask places an unplaced task on a node (id or name).
func (c *Client) PlaceTask(ctx context.Context, id, node string) (*structs.Task, error) {
	body, err := json.Marshal(PlaceRequest{Node: node})
	if err != nil {
		return nil, err
	}
	var out structs.Task
	return &out, c.do(ctx, http.MethodPost, "/v1/tasks/"+url.PathEscape(id)+"/place", body, &out)
}

// RunWith starts one-off tasks of a task definition given as ECS JSON,
// where opts says.
func (c *Client) RunWith(ctx context.Context, taskDef []byte, opts RunOptions) (RunResult, error) {
	body, err := json.Marshal(RunRequest{TaskDefinition: taskDef, Count: opts.Count, Nodes: opts.Nodes, Cluster: opts.Cluster})
	if err != nil {
		return RunResult{}, err
	}
	var out RunResult
	return out, c.do(ctx, http.MethodPost, "/v1/tasks", body, &out)
}
