package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// fakeState is an immutable snapshot of the fake's cluster. The fake
// replaces objects rather than changing them, as the real replica does, so
// a view handed to a handler never changes under it.
type fakeState struct {
	index    uint64
	nodes    []*structs.Node
	services []*structs.Service
	taskdefs []*structs.TaskDefinition
	tasks    []*structs.Task
	tokens   []*structs.ACLToken
	secrets  []*structs.Secret
	// schedules is the one schedule "backup", with a run of task
	// dddd5555 (which tests that want it add) and a run skipped.
	schedules []*structs.Schedule
	// events are kept oldest first; lostThrough is the index of the
	// newest one dropped.
	events      []*structs.Event
	lostThrough uint64
}

func (s *fakeState) EventsAfter(index uint64) []*structs.Event {
	var out []*structs.Event
	for _, e := range s.events {
		if e.Index > index {
			out = append(out, e)
		}
	}
	return out
}

func (s *fakeState) EventsLostThrough() uint64 { return s.lostThrough }

func (f *fakeBackend) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.changed == nil {
		f.changed = make(chan struct{})
	}
	return f.changed
}

// addEvents applies an entry at the next index that records events of
// the given kinds and objects, and wakes the requests that wait.
func (f *fakeBackend) addEvents(evs ...structs.Event) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.update(func(s *fakeState) {
		s.index++
		s.events = slices.Clone(s.events)
		for _, e := range evs {
			e.Index = s.index
			s.events = append(s.events, &e)
		}
	})
	if f.changed != nil {
		close(f.changed)
		f.changed = nil
	}
	return f.state.index
}

func (s *fakeState) Schedules() []*structs.Schedule { return s.schedules }

func (s *fakeState) Schedule(name string) *structs.Schedule {
	return find(s.schedules, func(v *structs.Schedule) bool { return v.Name == name })
}

func (f *fakeBackend) ApplySchedule(ctx context.Context, sc *structs.Schedule, td *structs.TaskDefinition) (*structs.Schedule, error) {
	out, what := *sc, sc.TaskDefinition
	if td != nil {
		out.TaskDefinition, what = td.Family+":1", td.Family
	}
	if err := f.record("ApplySchedule", sc.Name, sc.Expression, sc.Concurrency, what); err != nil {
		return nil, err
	}
	return &out, nil
}

func (f *fakeBackend) DeleteSchedule(ctx context.Context, name string) error {
	return f.record("DeleteSchedule", name)
}

func (s *fakeState) Secrets() []*structs.Secret { return s.secrets }

func (s *fakeState) Secret(name string) *structs.Secret {
	return find(s.secrets, func(v *structs.Secret) bool { return v.Name == name })
}

func (s *fakeState) ServicesUsingSecret(name string) []string {
	var out []string
	for _, svc := range s.services {
		if td := s.TaskDefinition(svc.TaskDefinition); td != nil && slices.Contains(td.SecretsUsed(), name) {
			out = append(out, svc.Name)
		}
	}
	return out
}

// SetSecret keeps the value "sealed" as its reverse, so that a test can
// tell whether an answer gives away either form.
func (f *fakeBackend) SetSecret(ctx context.Context, name string, value []byte) (*structs.Secret, error) {
	if err := f.record("SetSecret", name, len(value)); err != nil {
		return nil, err
	}
	sealed := slices.Clone(value)
	slices.Reverse(sealed)
	sec := &structs.Secret{Name: name, KeyID: "k1", Sealed: sealed, Size: len(value), Version: 1, CreatedAt: 5, UpdatedAt: 5}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.update(func(s *fakeState) {
		s.secrets = append(slices.DeleteFunc(slices.Clone(s.secrets), func(v *structs.Secret) bool { return v.Name == name }), sec)
	})
	return sec, nil
}

func (f *fakeBackend) DeleteSecret(ctx context.Context, name string) error {
	return f.record("DeleteSecret", name)
}

func (s *fakeState) Index() uint64                              { return s.index }
func (s *fakeState) Nodes() []*structs.Node                     { return s.nodes }
func (s *fakeState) Services() []*structs.Service               { return s.services }
func (s *fakeState) TaskDefinitions() []*structs.TaskDefinition { return s.taskdefs }
func (s *fakeState) Tasks() []*structs.Task                     { return s.tasks }
func (s *fakeState) ACLTokens() []*structs.ACLToken             { return s.tokens }

func (s *fakeState) Node(id string) *structs.Node {
	return find(s.nodes, func(n *structs.Node) bool { return n.ID == id })
}

func (s *fakeState) Service(name string) *structs.Service {
	return find(s.services, func(v *structs.Service) bool { return v.Name == name })
}

func (s *fakeState) TaskDefinition(ref string) *structs.TaskDefinition {
	return find(s.taskdefs, func(td *structs.TaskDefinition) bool { return td.Ref() == ref })
}

func (s *fakeState) Task(id string) *structs.Task {
	return find(s.tasks, func(t *structs.Task) bool { return t.ID == id })
}

func (s *fakeState) TasksByService(service string) []*structs.Task {
	var out []*structs.Task
	for _, t := range s.tasks {
		if t.Service == service {
			out = append(out, t)
		}
	}
	return out
}

func find[T any](list []*T, match func(*T) bool) *T {
	for _, x := range list {
		if match(x) {
			return x
		}
	}
	return nil
}

// fakeBackend is an in-memory Backend that records the calls made to it.
// Its fields are set before it serves; mu then guards calls and state,
// which handlers running on the test server's goroutines change.
type fakeBackend struct {
	mu    sync.Mutex
	calls []string
	state *fakeState

	health    Health
	leader    bool
	leaderAPI string
	nodeAPI   map[string]string
	members   []Member
	peers     []RaftPeer

	// errs makes the named method fail with the error given.
	errs map[string]error
	// runTasks and runFailure are what RunTasks answers.
	runTasks   []*structs.Task
	runFailure *structs.PlacementFailure
	// internalResult is what ApplyInternal answers.
	internalResult any
	// logs writes a task's logs; nil writes "logs of ID\n".
	logs func(ctx context.Context, w io.Writer) error
	// volumes is what Volumes answers.
	volumes []structs.NodeVolume
	// exec runs a command for Exec; nil prints "ran CMD" and exits 0.
	exec func(ctx context.Context, req ExecRequest, stdio ExecIO) (int, error)
	// changed is closed by addEvents; nil until a request waits.
	changed chan struct{}
}

// newFake returns a fake leader on node n1 with two nodes, two services
// and four tasks: on n1 a running and a pending task of web, on n2 a
// stopped one of web and a running one-off task.
func newFake() *fakeBackend {
	web := &structs.Service{Name: "web", TaskDefinition: "web:1", DesiredCount: 3, PlacementFailure: &structs.PlacementFailure{
		Count: 1, TaskDefinition: "web:1", CPU: 64, MemoryMiB: 512, Nodes: 2,
		Reasons: []structs.PlacementReason{{Kind: structs.ReasonMemory, Nodes: 2, Need: 512, MostFree: 256}},
	}}
	return &fakeBackend{
		state: &fakeState{
			index: 7,
			nodes: []*structs.Node{
				{ID: "n1", Name: "one", Status: structs.NodeReady, Eligibility: structs.EligibilityEligible},
				{ID: "n2", Name: "two", Status: structs.NodeReady, Eligibility: structs.EligibilityEligible},
			},
			services: []*structs.Service{web, {Name: "db", TaskDefinition: "db:2", DesiredCount: 0}},
			taskdefs: []*structs.TaskDefinition{{Family: "web", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "x"}}}},
			tasks: []*structs.Task{
				{ID: "aaaa1111", Service: "web", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusRunning},
				{ID: "aaaa2222", Service: "web", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending},
				{ID: "bbbb3333", Service: "web", Node: "n2", DesiredStatus: structs.StatusStopped, LastStatus: structs.StatusStopped},
				{ID: "cccc4444", Node: "n2", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusRunning},
			},
			schedules: []*structs.Schedule{{Name: "backup", Expression: "rate(1 day)", TaskDefinition: "web:1", Concurrency: structs.ConcurrencyForbid,
				CreatedAt: 86_400_000, Runs: []structs.ScheduleRun{{At: 2 * 86_400_000, Task: "dddd5555"}, {At: 3 * 86_400_000, Skipped: "no node"}}}},
		},
		health:  Health{Status: "ok", Node: "n1", Name: "one", Leader: "n1", IsLeader: true, Index: 7, Version: "test"},
		leader:  true,
		nodeAPI: map[string]string{},
		members: []Member{{ID: "n1", Name: "one", RaftAddr: "10.0.0.1:7071", APIAddr: "10.0.0.1:7070", Status: "alive"}},
		peers:   []RaftPeer{{ID: "n1", Address: "10.0.0.1:7071", Voter: true, Leader: true}},
		errs:    map[string]error{},
	}
}

// record notes a call and returns the error set for the method.
func (f *fakeBackend) record(method string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := method
	for _, a := range args {
		call += " " + fmt.Sprint(a)
	}
	f.calls = append(f.calls, call)
	return f.errs[method]
}

// recorded returns the calls so far.
func (f *fakeBackend) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeBackend) View() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

// update replaces the state with a changed copy, leaving views already
// handed out as they were. The caller holds mu.
func (f *fakeBackend) update(change func(s *fakeState)) {
	next := *f.state
	next.services = slices.Clone(f.state.services)
	next.tasks = slices.Clone(f.state.tasks)
	change(&next)
	f.state = &next
}

func (f *fakeBackend) Health() Health    { return f.health }
func (f *fakeBackend) IsLeader() bool    { return f.leader }
func (f *fakeBackend) LeaderAPI() string { return f.leaderAPI }
func (f *fakeBackend) Members() []Member { _ = f.record("Members"); return f.members }
func (f *fakeBackend) NodeAPI(node string) string {
	return f.nodeAPI[node]
}

func (f *fakeBackend) ApplyService(ctx context.Context, svc *structs.Service, td *structs.TaskDefinition) (*structs.Service, error) {
	out, what := *svc, svc.TaskDefinition
	if td != nil {
		out.TaskDefinition, what = td.Family+":1", td.Family
	}
	if err := f.record("ApplyService", svc.Name, svc.DesiredCount, what); err != nil {
		return nil, err
	}
	return &out, nil
}

func (f *fakeBackend) RegisterTaskDefinition(ctx context.Context, td *structs.TaskDefinition) (*structs.TaskDefinition, error) {
	if err := f.record("RegisterTaskDefinition", td.Family, len(td.ContainerDefinitions)); err != nil {
		return nil, err
	}
	out := *td
	out.Revision = 2
	return &out, nil
}

func (f *fakeBackend) CreateToken(ctx context.Context, name, policy string) (NewToken, error) {
	if err := f.record("CreateToken", name, policy); err != nil {
		return NewToken{}, err
	}
	return NewToken{TokenInfo: TokenInfo{AccessorID: "acc-1", Name: name, Policy: policy}, Secret: "SKC1-new"}, nil
}

func (f *fakeBackend) DeleteToken(ctx context.Context, id string) error {
	return f.record("DeleteToken", id)
}

func (f *fakeBackend) DeleteService(ctx context.Context, name string) error {
	if err := f.record("DeleteService", name); err != nil {
		return err
	}
	// The call waits for ctx when asked to, so that a test can see the
	// request's end reach the backend.
	if name == "block" {
		<-ctx.Done()
		_ = f.record("DeleteService ended", ctx.Err())
		return ctx.Err()
	}
	return nil
}

func (f *fakeBackend) ScaleService(ctx context.Context, name string, count int) error {
	if err := f.record("ScaleService", name, count); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.update(func(s *fakeState) {
		for i, svc := range s.services {
			if svc.Name == name {
				c := *svc
				c.DesiredCount = count
				s.services[i] = &c
			}
		}
	})
	return nil
}

func (f *fakeBackend) SetServiceRevision(ctx context.Context, name, taskDefinition string, restart bool) error {
	return f.record("SetServiceRevision", name, taskDefinition, restart)
}

func (f *fakeBackend) RunTasks(ctx context.Context, td *structs.TaskDefinition, opts RunOptions) ([]*structs.Task, *structs.PlacementFailure, error) {
	args := []any{td.Family, opts.Count}
	if len(opts.Nodes) > 0 || opts.Cluster != structs.DefaultCluster {
		args = append(args, opts.Nodes, opts.Cluster)
	}
	if err := f.record("RunTasks", args...); err != nil {
		return nil, nil, err
	}
	return f.runTasks, f.runFailure, nil
}

func (f *fakeBackend) PlaceTask(ctx context.Context, id, node string) (*structs.Task, error) {
	if err := f.record("PlaceTask", id, node); err != nil {
		return nil, err
	}
	return &structs.Task{ID: id, Node: node}, nil
}

func (f *fakeBackend) StopTask(ctx context.Context, id string) error {
	if err := f.record("StopTask", id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.update(func(s *fakeState) {
		for i, t := range s.tasks {
			if t.ID == id {
				c := *t
				c.DesiredStatus = structs.StatusStopped
				s.tasks[i] = &c
			}
		}
	})
	return nil
}

// ApplyInternal records the calling node when a certificate named one.
func (f *fakeBackend) ApplyInternal(ctx context.Context, node string, cmd []byte) (any, error) {
	args := []any{fmt.Sprintf("%q", cmd)}
	if node != "" {
		args = append([]any{"from " + node}, args...)
	}
	if err := f.record("ApplyInternal", args...); err != nil {
		return nil, err
	}
	return f.internalResult, nil
}

func (f *fakeBackend) RaftPeers(ctx context.Context) ([]RaftPeer, error) {
	if err := f.record("RaftPeers"); err != nil {
		return nil, err
	}
	return f.peers, nil
}

func (f *fakeBackend) Drain(ctx context.Context, node string, enable bool) (*structs.Node, error) {
	if err := f.record("Drain", node, enable); err != nil {
		return nil, err
	}
	found := f.View().Node(node)
	if found == nil {
		return nil, fmt.Errorf("node %s: %w", node, ErrNotFound)
	}
	n := *found
	n.Eligibility = structs.EligibilityEligible
	if enable {
		n.Eligibility = structs.EligibilityIneligible
	}
	return &n, nil
}

func (f *fakeBackend) Leave(ctx context.Context) error { return f.record("Leave") }

func (f *fakeBackend) Barrier(ctx context.Context) error { return f.record("Barrier") }

func (f *fakeBackend) Logs(ctx context.Context, taskID, container string, opts structs.LogOptions, w io.Writer) error {
	args := []any{taskID, container, opts.Follow}
	if opts.Tail != structs.AllLines || !opts.Since.IsZero() || opts.Timestamps {
		args = append(args, fmt.Sprintf("tail=%d since=%s timestamps=%v", opts.Tail, opts.Since.Format(time.RFC3339), opts.Timestamps))
	}
	if err := f.record("Logs", args...); err != nil {
		return err
	}
	if f.logs != nil {
		return f.logs(ctx, w)
	}
	_, err := fmt.Fprintf(w, "logs of %s\n", taskID)
	return err
}

func (f *fakeBackend) Exec(ctx context.Context, taskID string, req ExecRequest, stdio ExecIO) (int, error) {
	if err := f.record("Exec", taskID, req.Container, strings.Join(req.Cmd, " "), req.Stdin, req.TTY); err != nil {
		return 0, err
	}
	if f.exec != nil {
		return f.exec(ctx, req, stdio)
	}
	_, err := fmt.Fprintf(stdio.Stdout, "ran %s\n", strings.Join(req.Cmd, " "))
	return 0, err
}

func (f *fakeBackend) Volumes(ctx context.Context) ([]structs.NodeVolume, error) {
	if err := f.record("Volumes"); err != nil {
		return nil, err
	}
	return f.volumes, nil
}

// logBuffer collects what a handler logs, from the test server's
// goroutines.
type logBuffer struct{ testutil.Buffer }

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, nil))
}

// has tells whether the log holds a line with every one of words.
func (b *logBuffer) has(words ...string) bool {
	for _, line := range strings.Split(b.String(), "\n") {
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all && line != "" {
			return true
		}
	}
	return false
}

func (s *fakeState) TasksByNode(node string) []*structs.Task {
	var out []*structs.Task
	for _, t := range s.tasks {
		if t.Node == node {
			out = append(out, t)
		}
	}
	return out
}

// Usage answers for node n1 with one container of task aaaa1111.
func (f *fakeBackend) Usage(ctx context.Context) (structs.NodeUsage, error) {
	if err := f.record("Usage"); err != nil {
		return structs.NodeUsage{}, err
	}
	return structs.NodeUsage{Node: "n1", CPU: 1024, CPUUsed: 512, MemoryUsedBytes: 64 << 20,
		Containers: []structs.ContainerUsage{{Task: "aaaa1111", Service: "web", Container: "app", CPUPercent: 50, MemoryBytes: 64 << 20}}}, nil
}

// Metrics serves one fixed sample in the exposition format.
func (f *fakeBackend) Metrics() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "skiff_test 1\n")
	})
}

// SaveSnapshot answers a backup of index 7 whose state is a bare index.
func (f *fakeBackend) SaveSnapshot(ctx context.Context) (*structs.Backup, error) {
	if err := f.record("SaveSnapshot"); err != nil {
		return nil, err
	}
	return &structs.Backup{Format: structs.BackupFormat, Index: 7, SHA256: "digest", State: []byte(`{"index":7}`)}, nil
}

func (f *fakeBackend) RestoreSnapshot(ctx context.Context, b *structs.Backup) error {
	return f.record("RestoreSnapshot", b.Format, b.Index, string(b.State))
}
