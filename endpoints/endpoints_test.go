package endpoints

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// view is a fixed state for the tests.
type view struct {
	services map[string]*structs.Service
	tasks    []*structs.Task
	nodes    map[string]*structs.Node
	defs     map[string]*structs.TaskDefinition
}

func (v *view) Service(name string) *structs.Service { return v.services[name] }
func (v *view) Node(id string) *structs.Node         { return v.nodes[id] }
func (v *view) TaskDefinition(ref string) *structs.TaskDefinition {
	return v.defs[ref]
}
func (v *view) TasksByService(service string) []*structs.Task {
	var out []*structs.Task
	for _, t := range v.tasks {
		if t.Service == service {
			out = append(out, t)
		}
	}
	return out
}

var start = time.UnixMilli(1_000_000)

func running(id, node string, ports ...int) *structs.Task {
	return &structs.Task{ID: id, Service: "web", TaskDefinition: "web:1", Node: node, DesiredStatus: structs.StatusRunning,
		LastStatus: structs.StatusRunning, HostPorts: ports, StartedAt: start.UnixMilli(),
		Containers: []structs.ContainerState{{Name: "app", Status: "running"}, {Name: "side", Status: "running"}}}
}

func newView(tasks ...*structs.Task) *view {
	return &view{
		services: map[string]*structs.Service{"web": {Name: "web", TaskDefinition: "web:1"}},
		nodes: map[string]*structs.Node{
			"n1": {ID: "n1", Name: "one", Address: "10.0.0.1:7071", Status: structs.NodeReady},
			"n2": {ID: "n2", Name: "two", Address: "10.0.0.2", Status: structs.NodeReady},
		},
		defs: map[string]*structs.TaskDefinition{"web:1": {Family: "web", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
			{Name: "app", PortMappings: []structs.PortMapping{{ContainerPort: 8080}, {ContainerPort: 9090, Protocol: "udp"}}},
			{Name: "side", PortMappings: []structs.PortMapping{{ContainerPort: 80}}},
		}}},
		tasks: tasks,
	}
}

func describe(eps []Endpoint) string {
	s := ""
	for _, e := range eps {
		s += fmt.Sprintf("%s %s/%s %s:%d->%s:%d/%s healthy=%v\n", e.TaskID, e.Node, e.NodeName, e.Address, e.HostPort, e.ContainerName, e.ContainerPort, e.Protocol, e.Healthy)
	}
	return s
}

func TestOfListsEveryPortOfRunningTasks(t *testing.T) {
	v := newView(running("t1", "n1", 20000, 20001, 20002), running("t2", "n2", 20000, 20001, 20002))
	got := describe(Of(v, "web", start.Add(DefaultHealthyAfter)))
	want := "t1 n1/one 10.0.0.1:20000->app:8080/tcp healthy=true\n" +
		"t1 n1/one 10.0.0.1:20001->app:9090/udp healthy=true\n" +
		"t1 n1/one 10.0.0.1:20002->side:80/tcp healthy=true\n" +
		"t2 n2/two 10.0.0.2:20000->app:8080/tcp healthy=true\n" +
		"t2 n2/two 10.0.0.2:20001->app:9090/udp healthy=true\n" +
		"t2 n2/two 10.0.0.2:20002->side:80/tcp healthy=true\n"
	if got != want {
		t.Fatalf("endpoints:\n%s\nwant:\n%s", got, want)
	}
	if eps := Of(v, "nosuch", start); eps != nil {
		t.Fatalf("unknown service: %v", eps)
	}
}

func TestOfLeavesOutStoppingPendingAndDownNodeTasks(t *testing.T) {
	stopping := running("stopping", "n1", 20003, 20004, 20005)
	stopping.DesiredStatus = structs.StatusStopped
	pending := running("pending", "n1", 20006, 20007, 20008)
	pending.LastStatus = structs.StatusPending
	onDown := running("ondown", "n2", 20000, 20001, 20002)
	lost := running("lost", "n1", 20009, 20010, 20011)
	lost.LastStatus = structs.StatusLost
	v := newView(running("ok", "n1", 20000, 20001, 20002), stopping, pending, onDown, lost)
	v.nodes["n2"].Status = structs.NodeDown
	eps := Of(v, "web", start.Add(time.Hour))
	if len(eps) != 3 {
		t.Fatalf("want the 3 ports of task ok alone, got:\n%s", describe(eps))
	}
	for _, e := range eps {
		if e.TaskID != "ok" {
			t.Fatalf("want the 3 ports of task ok alone, got:\n%s", describe(eps))
		}
	}
}

func TestHealthWithoutCheckWaitsForTheGracePeriod(t *testing.T) {
	v := newView(running("t1", "n1", 20000, 20001, 20002))
	eps, until := Until(v, "web", start.Add(time.Second))
	if len(eps) != 3 || eps[0].Healthy {
		t.Fatalf("a task running for 1s without a health check: want 3 unhealthy endpoints, got:\n%s", describe(eps))
	}
	if want := start.Add(DefaultHealthyAfter); !until.Equal(want) {
		t.Fatalf("until = %v, want %v", until, want)
	}
	eps, until = Until(v, "web", start.Add(DefaultHealthyAfter))
	if !eps[0].Healthy || !until.IsZero() {
		t.Fatalf("after the grace period: want healthy and no deadline, got until %v:\n%s", until, describe(eps))
	}
}

func TestHealthFollowsTheHealthCheck(t *testing.T) {
	v := newView()
	def := v.defs["web:1"]
	def.ContainerDefinitions[0].HealthCheck = &structs.HealthCheck{Command: []string{"CMD", "/probe"}}
	for _, tc := range []struct {
		health string
		want   bool
	}{{"starting", false}, {"unhealthy", false}, {"healthy", true}} {
		task := running("t1", "n1", 20000, 20001, 20002)
		task.Containers[0].Health = tc.health
		v.tasks = []*structs.Task{task}
		// Long past the grace period: only the check counts.
		eps, until := Until(v, "web", start.Add(time.Hour))
		if len(eps) != 3 || eps[0].Healthy != tc.want || eps[2].Healthy != tc.want || !until.IsZero() {
			t.Fatalf("health %q: want healthy=%v on every port and no deadline, got until %v:\n%s", tc.health, tc.want, until, describe(eps))
		}
	}
	// An essential container that is not reported yet is not healthy.
	task := running("t1", "n1", 20000, 20001, 20002)
	task.Containers = task.Containers[:1]
	task.Containers[0].Health = "healthy"
	v.tasks = []*structs.Task{task}
	if eps := Of(v, "web", start.Add(time.Hour)); eps[0].Healthy {
		t.Fatalf("essential container missing from the report: want unhealthy, got:\n%s", describe(eps))
	}
}

func TestHealthyNeverForAStoppingTask(t *testing.T) {
	v := newView()
	task := running("t1", "n1")
	task.DesiredStatus = structs.StatusStopped
	if ok, at := Healthy(task, v.defs["web:1"], 0, start.Add(time.Hour)); ok || !at.IsZero() {
		t.Fatalf("stopping task: healthy=%v at=%v, want false and no deadline", ok, at)
	}
}

func TestTaskWithFewerHostPortsThanMappingsListsWhatItHas(t *testing.T) {
	v := newView(running("t1", "n1", 20000))
	eps := Of(v, "web", start.Add(time.Hour))
	if got := describe(eps); got != "t1 n1/one 10.0.0.1:20000->app:8080/tcp healthy=true\n" {
		t.Fatalf("endpoints:\n%s", got)
	}
}

func TestHostIsTheIPOfTheRegisteredAddress(t *testing.T) {
	for addr, want := range map[string]string{"10.0.0.1:7071": "10.0.0.1", "[fd00::1]:7071": "fd00::1", "10.0.0.9": "10.0.0.9"} {
		if got := Host(&structs.Node{Address: addr}); got != want {
			t.Errorf("Host(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestHealthyNeverWithAnEssentialContainerDown(t *testing.T) {
	v := newView()
	task := running("t1", "n1", 20000, 20001, 20002)
	task.Containers[1].Status = "exited"
	if ok, at := Healthy(task, v.defs["web:1"], 0, start.Add(time.Hour)); ok || !at.IsZero() {
		t.Fatalf("an essential container exited: healthy=%v at=%v, want false and no deadline", ok, at)
	}
	ess := false
	v.defs["web:1"].ContainerDefinitions[1].Essential = &ess
	if ok, _ := Healthy(task, v.defs["web:1"], 0, start.Add(time.Hour)); !ok {
		t.Fatal("a container that is not essential exited: want healthy")
	}
}
