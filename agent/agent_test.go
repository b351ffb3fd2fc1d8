package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
	"github.com/skiff-run/skiff/token"
)

type harness struct {
	t          *testing.T
	secret     token.Secret
	dir        string
	raftAddr   string
	gossipAddr string
	rt         *runtime.Fake
	a          *Agent
}

func newHarness(t *testing.T) *harness {
	secret, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, secret: secret, dir: t.TempDir(), raftAddr: testutil.Addr(t), gossipAddr: testutil.Addr(t), rt: runtime.NewFake()}
	h.start()
	t.Cleanup(func() {
		if h.a != nil {
			h.a.Close()
		}
	})
	return h
}

func (h *harness) start() {
	var err error
	h.a, err = New(Config{Name: "test", Token: h.secret.String(), DataDir: h.dir, HTTPAddr: "127.0.0.1:0", RaftAddr: h.raftAddr, GossipAddr: h.gossipAddr,
		CPU: 1024, MemoryMiB: 1024, Runtime: h.rt, Resync: 100 * time.Millisecond})
	if err != nil {
		h.t.Fatal(err)
	}
	h.wait("leader with its node registered", func(st *fsm.State) bool { return h.a.raft.IsLeader() && st.Node(h.a.ID()) != nil })
}

// get sends a GET to the agent's API with the cluster's management token,
// trusting the CA the agent wrote into its data dir.
func (h *harness) get(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, "https://"+h.a.HTTPAddr()+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.secret.ManagementToken())
	return (&http.Client{Transport: &http.Transport{TLSClientConfig: h.clientTLS()}}).Do(req)
}

// clientTLS is what the command line on the agent's host trusts: the CA
// in the data dir.
func (h *harness) clientTLS() *tls.Config {
	h.t.Helper()
	raw, err := os.ReadFile(filepath.Join(h.dir, CAFile))
	if err != nil {
		h.t.Fatal(err)
	}
	cfg, err := pki.ClientTLS(raw)
	if err != nil {
		h.t.Fatal(err)
	}
	return cfg
}

func (h *harness) wait(what string, cond func(st *fsm.State) bool) {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond(h.a.State()) {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func running(st *fsm.State, svc string) []*structs.Task {
	var out []*structs.Task
	for _, t := range st.TasksByService(svc) {
		if t.DesiredStatus == structs.StatusRunning && t.LastStatus == structs.StatusRunning {
			out = append(out, t)
		}
	}
	return out
}

func def(family string, mem int64) *structs.TaskDefinition {
	return &structs.TaskDefinition{Family: family, ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img", Memory: mem}}}
}

func TestServiceIsKeptAtDesiredCount(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.a.ApplyService(ctx, &structs.Service{Name: "web", DesiredCount: 3}, def("web", 100)); err != nil {
		t.Fatal(err)
	}
	h.wait("3 running", func(st *fsm.State) bool { return len(running(st, "web")) == 3 })

	// An essential container exits: the task stops with the exit code and
	// is replaced.
	victim := running(h.a.State(), "web")[0]
	h.rt.Exit(victim.ID, "app", 3)
	h.wait("victim stopped and replaced", func(st *fsm.State) bool {
		v := st.Task(victim.ID)
		return v.LastStatus == structs.StatusStopped && len(running(st, "web")) == 3
	})
	v := h.a.State().Task(victim.ID)
	if !v.Failed || v.StopReason != "essential container app exited with code 3" {
		t.Fatalf("victim: %+v", v)
	}

	if err := h.a.ScaleService(ctx, "web", 1); err != nil {
		t.Fatal(err)
	}
	h.wait("1 running", func(st *fsm.State) bool { return len(running(st, "web")) == 1 })
	h.wait("2 containers stopped", func(*fsm.State) bool { return len(h.rt.Running()) == 1 })

	if err := h.a.DeleteService(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	h.wait("no containers", func(*fsm.State) bool { return len(h.rt.Running()) == 0 })
}

func TestPlacementFailureIsExplained(t *testing.T) {
	h := newHarness(t)
	if _, err := h.a.ApplyService(context.Background(), &structs.Service{Name: "big", DesiredCount: 3}, def("big", 400)); err != nil {
		t.Fatal(err)
	}
	h.wait("2 running", func(st *fsm.State) bool { return len(running(st, "big")) == 2 })
	h.wait("placement failure recorded", func(st *fsm.State) bool { return st.Service("big").PlacementFailure != nil })
	f := h.a.State().Service("big").PlacementFailure
	if len(f.Reasons) != 1 || f.Reasons[0].Kind != structs.ReasonMemory || f.Reasons[0].Nodes != 1 || f.Count != 1 {
		t.Fatalf("failure %+v", f)
	}
	if msg := f.String(); !strings.Contains(msg, "unable to place 1 task(s): 0 of 1 node can run big:1") || !strings.Contains(msg, "lack memory") {
		t.Fatalf("message %q", msg)
	}
}

func TestFailingTasksBackOff(t *testing.T) {
	h := newHarness(t)
	h.rt.MissingImage("img")
	if _, err := h.a.ApplyService(context.Background(), &structs.Service{Name: "bad", DesiredCount: 1, RestartPolicy: structs.RestartPolicy{MaxBackoffSeconds: 2}}, def("bad", 10)); err != nil {
		t.Fatal(err)
	}
	// Replacements come at once the first time, then after 1s, 2s, 2s...:
	// by any moment there have been at most three attempts and one more
	// per second. Without backoff the 100 ms node loop would make dozens,
	// and this bound would break within the first second.
	start := time.Now()
	attempts := func() int { return len(h.a.State().TasksByService("bad")) }
	testutil.AssertFor(t, 4*time.Second, func() (bool, string) {
		n, limit := attempts(), 3+int(time.Since(start)/time.Second)
		return n <= limit, fmt.Sprintf("%d attempts after %s, more than %d", n, time.Since(start).Round(time.Millisecond), limit)
	})
	// Backing off is not giving up: the attempts go on.
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		n := attempts()
		return n >= 4, fmt.Sprintf("%d attempts after %s", n, time.Since(start).Round(time.Millisecond))
	})
	for _, task := range h.a.State().TasksByService("bad") {
		if task.LastStatus == structs.StatusStopped && !strings.Contains(task.StopReason, "pull failed") {
			t.Fatalf("reason %q", task.StopReason)
		}
	}
}

// TestRestartAdoptsContainers restarts the agent on the same data dir with
// the same engine: the tasks keep running and nothing is started twice.
func TestRestartAdoptsContainers(t *testing.T) {
	h := newHarness(t)
	if _, err := h.a.ApplyService(context.Background(), &structs.Service{Name: "web", DesiredCount: 4}, def("web", 10)); err != nil {
		t.Fatal(err)
	}
	h.wait("4 running", func(st *fsm.State) bool { return len(running(st, "web")) == 4 })
	starts := h.rt.Starts()
	id := h.a.ID()
	if err := h.a.Close(); err != nil {
		t.Fatal(err)
	}
	h.start()
	if h.a.ID() != id {
		t.Fatalf("node id changed across a restart: %s -> %s", id, h.a.ID())
	}
	h.wait("4 running after restart", func(st *fsm.State) bool { return len(running(st, "web")) == 4 })
	// Ten node-loop passes (Resync is 100 ms) must start nothing: a restart
	// that failed to adopt would start a container on its first pass after
	// catching up, or stop one and start it again.
	testutil.AssertFor(t, time.Second, func() (bool, string) {
		got, n := h.rt.Starts(), len(h.rt.Running())
		return got == starts && n == 4, fmt.Sprintf("restart started %d more containers; %d tasks running in the engine", got-starts, n)
	})
}

func TestRunOneOffTasks(t *testing.T) {
	h := newHarness(t)
	tasks, failure, err := h.a.RunTasks(context.Background(), def("job", 300), api.RunOptions{Count: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 3 || !strings.Contains(failure.String(), "unable to place 1 task(s)") {
		t.Fatalf("%d tasks, failure %q", len(tasks), failure.String())
	}
	for _, task := range tasks {
		if task.Service != "" || task.TaskDefinition != "job:1" {
			t.Fatalf("task %+v", task)
		}
	}
	h.wait("3 one-off tasks running", func(st *fsm.State) bool {
		n := 0
		for _, task := range st.Tasks() {
			if task.LastStatus == structs.StatusRunning {
				n++
			}
		}
		return n == 3
	})
	if err := h.a.StopTask(context.Background(), tasks[0].ID); err != nil {
		t.Fatal(err)
	}
	h.wait("stopped", func(st *fsm.State) bool { return st.Task(tasks[0].ID).LastStatus == structs.StatusStopped })
	if got := h.a.State().Task(tasks[0].ID); got.Failed || got.StopReason != "stopped by user" {
		t.Fatalf("stopped task: %+v", got)
	}
	if err := h.a.StopTask(context.Background(), "nope"); err == nil {
		t.Fatal("stopping an unknown task succeeded")
	}
}

// TestAPIOverTLS: an agent with a cluster secret writes the CA for the
// command line to find, serves its API over TLS with its node certificate,
// and tells a plain http client what to do; one in Dev without a secret
// serves plain http and writes no CA.
func TestAPIOverTLS(t *testing.T) {
	h := newHarness(t)
	info, err := os.Stat(filepath.Join(h.dir, CAFile))
	if err != nil || info.Mode().Perm() != 0o644 {
		t.Fatalf("%s: %v %v", CAFile, info, err)
	}
	ca, _ := pki.ClusterCA(h.secret)
	if raw, _ := os.ReadFile(filepath.Join(h.dir, CAFile)); string(raw) != string(ca.PEM()) {
		t.Fatalf("%s is not the cluster's CA: %q", CAFile, raw)
	}
	ctx := context.Background()
	if hl, err := api.NewClient(h.a.HTTPAddr(), h.clientTLS()).Health(ctx); err != nil || hl.Node != h.a.ID() {
		t.Fatalf("health over TLS: %+v %v", hl, err)
	}
	if _, err := api.NewClient(h.a.HTTPAddr(), nil).Health(ctx); err == nil || !strings.Contains(err.Error(), "serves https") {
		t.Fatalf("plain http: %v", err)
	}

	dir := t.TempDir()
	dev, err := New(Config{Name: "dev", Dev: true, DataDir: dir, HTTPAddr: "127.0.0.1:0", RaftAddr: testutil.Addr(t), GossipAddr: testutil.Addr(t),
		CPU: 1024, MemoryMiB: 1024, Runtime: runtime.NewFake()})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if _, err := api.NewClient(dev.HTTPAddr(), nil).Health(ctx); err != nil {
		t.Fatalf("dev over plain http: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, CAFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a dev agent wrote %s: %v", CAFile, err)
	}
}

// A definition registered alone is what a service that names its family
// runs, its newest revision at the time of the apply, as with ECS's
// register-task-definition and create-service.
func TestServiceOfARegisteredDefinition(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	first, err := h.a.RegisterTaskDefinition(ctx, def("web", 100))
	if err != nil || first.Ref() != "web:1" {
		t.Fatalf("register: %v %v", first, err)
	}
	again, err := h.a.RegisterTaskDefinition(ctx, def("web", 100))
	if err != nil || again.Ref() != "web:1" {
		t.Fatalf("the same definition again: %v %v", again, err)
	}
	if second, err := h.a.RegisterTaskDefinition(ctx, def("web", 200)); err != nil || second.Ref() != "web:2" {
		t.Fatalf("a changed definition: %v %v", second, err)
	}
	svc, err := h.a.ApplyService(ctx, &structs.Service{Name: "web", DesiredCount: 2, TaskDefinition: "web"}, nil)
	if err != nil || svc.TaskDefinition != "web:2" {
		t.Fatalf("apply by family: %+v %v", svc, err)
	}
	h.wait("2 running web:2", func(st *fsm.State) bool {
		r := running(st, "web")
		return len(r) == 2 && r[0].TaskDefinition == "web:2" && r[1].MemoryMiB == 200
	})
	if _, err := h.a.ApplyService(ctx, &structs.Service{Name: "web", DesiredCount: 2, TaskDefinition: "web:1"}, nil); err != nil {
		t.Fatal(err)
	}
	h.wait("rolled to web:1", func(st *fsm.State) bool {
		r := running(st, "web")
		return len(r) == 2 && r[0].TaskDefinition == "web:1" && r[1].TaskDefinition == "web:1"
	})
}

// The host's GPUs are its NVIDIA device nodes, one per GPU, not the
// driver's other nodes.
func TestHostGPUs(t *testing.T) {
	dev := t.TempDir()
	for _, name := range []string{"nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "null"} {
		if err := os.WriteFile(filepath.Join(dev, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := hostGPUs(dev); got != 2 {
		t.Fatalf("%d GPUs, want 2", got)
	}
	if got := hostGPUs(filepath.Join(dev, "missing")); got != 0 {
		t.Fatalf("%d GPUs without a /dev, want 0", got)
	}
}

// Privileged containers run only where the agent's flag allows them, and
// on a --dev agent, which is the operator's own machine.
func TestAllowPrivilegedDefault(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want bool
	}{{Config{}, false}, {Config{AllowPrivileged: true}, true}, {Config{Dev: true}, true}} {
		cfg := tc.cfg
		cfg.Runtime, cfg.GossipAddr = runtime.NewFake(), "127.0.0.1:0"
		if err := setDefaults(&cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.AllowPrivileged != tc.want {
			t.Errorf("dev %v, flag %v: allow privileged %v, want %v", tc.cfg.Dev, tc.cfg.AllowPrivileged, cfg.AllowPrivileged, tc.want)
		}
	}
}

// An agent told to join others is refused if it would also bootstrap a
// cluster of its own on its first start; once it has state it bootstraps
// nothing and may join, and one that expects others may always join.
func TestJoinWithBootstrapExpectOne(t *testing.T) {
	fresh, started := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(started, "raft"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(started, "raft", "raft.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir    string
		expect int
		refuse bool
	}{{fresh, 1, true}, {fresh, 0, true}, {fresh, 3, false}, {started, 1, false}} {
		cfg := Config{Runtime: runtime.NewFake(), GossipAddr: "127.0.0.1:0", DataDir: tc.dir, Join: []string{"10.0.0.2"}, BootstrapExpect: tc.expect}
		err := setDefaults(&cfg)
		if refused := err != nil && strings.Contains(err.Error(), "bootstrap-expect 1"); refused != tc.refuse {
			t.Errorf("expect %d, state %v: %v; want refused %v", tc.expect, tc.dir == started, err, tc.refuse)
		}
	}
	cfg := Config{Runtime: runtime.NewFake(), GossipAddr: "127.0.0.1:0", DataDir: fresh, Join: []string{"10.0.0.2"}, BootstrapExpect: 1, Dev: true}
	if err := setDefaults(&cfg); err == nil || !strings.Contains(err.Error(), "--dev") {
		t.Errorf("a --dev agent told to join: %v, want a refusal naming --dev", err)
	}
}
