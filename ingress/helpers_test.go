package ingress

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// fakeView is a fixed state: services, their tasks on node n1 (whose
// address, as a real node's, carries its Raft port), and definitions.
type fakeView struct {
	services []*structs.Service
	tasks    []*structs.Task
	defs     map[string]*structs.TaskDefinition
}

var node1 = &structs.Node{ID: "n1", Name: "one", Address: "127.0.0.1:7071", Status: structs.NodeReady}

func (v *fakeView) Services() []*structs.Service {
	return append([]*structs.Service(nil), v.services...)
}
func (v *fakeView) Service(name string) *structs.Service {
	for _, s := range v.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}
func (v *fakeView) Node(id string) *structs.Node {
	if id == node1.ID {
		return node1
	}
	return nil
}
func (v *fakeView) TaskDefinition(ref string) *structs.TaskDefinition { return v.defs[ref] }
func (v *fakeView) TasksByService(service string) []*structs.Task {
	var out []*structs.Task
	for _, t := range v.tasks {
		if t.Service == service {
			out = append(out, t)
		}
	}
	return out
}

// addService adds a service of one container "app" serving port 8080 with
// the given load balancers, and returns it.
func (v *fakeView) addService(name string, lbs ...structs.LoadBalancer) *structs.Service {
	if v.defs == nil {
		v.defs = map[string]*structs.TaskDefinition{}
	}
	v.defs[name+":1"] = &structs.TaskDefinition{Family: name, Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "app", PortMappings: []structs.PortMapping{{ContainerPort: 8080}}}}}
	for i := range lbs {
		lbs[i].ContainerName, lbs[i].ContainerPort = "app", 8080
	}
	s := &structs.Service{Name: name, TaskDefinition: name + ":1", LoadBalancers: lbs}
	v.services = append(v.services, s)
	return s
}

// addTask adds a running task of service, long enough started to count as
// healthy, whose port 8080 is hostPort on node n1.
func (v *fakeView) addTask(service, id string, hostPort int) *structs.Task {
	t := &structs.Task{ID: id, Service: service, TaskDefinition: service + ":1", Node: "n1", DesiredStatus: structs.StatusRunning,
		LastStatus: structs.StatusRunning, HostPorts: []int{hostPort}, StartedAt: time.Now().Add(-time.Hour).UnixMilli(),
		Containers: []structs.ContainerState{{Name: "app", Status: "running"}}}
	v.tasks = append(v.tasks, t)
	return t
}

// fakeSource serves views that a test replaces with set.
type fakeSource struct {
	mu      sync.Mutex
	view    View
	changed chan struct{}
}

func newSource(v View) *fakeSource { return &fakeSource{view: v, changed: make(chan struct{})} }

func (s *fakeSource) View() View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.view
}

func (s *fakeSource) Watch() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *fakeSource) set(v View) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.view = v
	close(s.changed)
	s.changed = make(chan struct{})
}

// freePort returns a loopback port that nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// portOf is the port of a listener's address.
func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// runIngress runs an ingress on loopback over src until the test ends.
func runIngress(t testing.TB, src Source) *Ingress {
	t.Helper()
	g := New(Config{Bind: "127.0.0.1", Source: src, Grace: 10 * time.Second, Retry: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return g
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
