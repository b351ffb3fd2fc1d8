package fsm

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

func servedDef(family string, port int) *structs.TaskDefinition {
	return &structs.TaskDefinition{Family: family, ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img",
		PortMappings: []structs.PortMapping{{ContainerPort: port}}}}}
}

func balanced(name string, lbs ...structs.LoadBalancer) structs.Service {
	return structs.Service{Name: name, DesiredCount: 1, LoadBalancers: lbs}
}

// TestBalancedServicesHaveTheirOwnCommand checks that loadBalancers ride
// only in ApplyBalancedService, which an older replica stops at rather
// than drop them, and that Apply refuses a listener another service holds
// and a target the definition lacks.
func TestBalancedServicesHaveTheirOwnCommand(t *testing.T) {
	f := New(nil)
	web := structs.LoadBalancer{ContainerName: "app", ContainerPort: 8080, ListenerPort: 80, Hostnames: []string{"web.example"}}
	if err, ok := apply(t, f, 1, CmdApplyService, ApplyService{Service: balanced("web", web), TaskDefinition: servedDef("web", 8080)}).(error); !ok ||
		!strings.Contains(err.Error(), "ApplyBalancedService") {
		t.Fatalf("ApplyService took loadBalancers: %v", err)
	}
	mustApply(t, f, 2, CmdApplyBalancedService, ApplyService{Service: balanced("web", web), TaskDefinition: servedDef("web", 8080), At: 1})
	if s := f.State().Service("web"); len(s.LoadBalancers) != 1 || s.LoadBalancers[0].ListenerPort != 80 {
		t.Fatalf("service after apply: %+v", s)
	}

	// Another service on the same host and path is refused; on another
	// host it shares the listener.
	api := web
	if err, ok := apply(t, f, 3, CmdApplyBalancedService, ApplyService{Service: balanced("api", api), TaskDefinition: servedDef("api", 8080)}).(error); !ok ||
		!errors.Is(err, structs.ErrConflict) || !strings.Contains(err.Error(), "by service web") {
		t.Fatalf("a second service took web's route: %v", err)
	}
	api.Hostnames = []string{"api.example"}
	mustApply(t, f, 4, CmdApplyBalancedService, ApplyService{Service: balanced("api", api), TaskDefinition: servedDef("api", 8080)})
	// A service may re-apply its own listener.
	mustApply(t, f, 5, CmdApplyBalancedService, ApplyService{Service: balanced("web", web), TaskDefinition: servedDef("web", 8080)})

	tcp := structs.LoadBalancer{ContainerName: "app", ContainerPort: 8080, ListenerPort: 80, Protocol: structs.ProtocolTCP}
	if _, ok := apply(t, f, 6, CmdApplyBalancedService, ApplyService{Service: balanced("db", tcp), TaskDefinition: servedDef("db", 8080)}).(error); !ok {
		t.Fatal("a tcp listener took an http listener's port")
	}
	wrongPort := web
	wrongPort.ListenerPort, wrongPort.ContainerPort = 81, 9090
	if err, ok := apply(t, f, 7, CmdApplyBalancedService, ApplyService{Service: balanced("other", wrongPort), TaskDefinition: servedDef("other", 8080)}).(error); !ok ||
		!strings.Contains(err.Error(), "containerPort") {
		t.Fatalf("a port the definition lacks was taken: %v", err)
	}
	if f.State().Service("other") != nil || f.State().Service("db") != nil {
		t.Fatal("a refused service was written")
	}

	// A revision without the port cannot be rolled to.
	mustApply(t, f, 8, CmdRegisterTaskDefinition, RegisterTaskDefinition{TaskDefinition: *servedDef("web", 9999)})
	if err, ok := apply(t, f, 9, CmdSetServiceRevision, SetServiceRevision{Name: "web", TaskDefinition: "web:2"}).(error); !ok ||
		!strings.Contains(err.Error(), "containerPort") {
		t.Fatalf("web rolled to a revision without its balanced port: %v", err)
	}

	// Deleting a service frees its listener.
	mustApply(t, f, 10, CmdDeleteService, DeleteService{Name: "web"})
	mustApply(t, f, 11, CmdApplyBalancedService, ApplyService{Service: balanced("web2", web), TaskDefinition: servedDef("web2", 8080)})
}

// staticDef is servedDef with the container's port on a static host port.
func staticDef(family string, port, hostPort int) *structs.TaskDefinition {
	td := servedDef(family, port)
	td.ContainerDefinitions[0].PortMappings[0].HostPort = hostPort
	return td
}

// TestListenerPortsAreReservedInsideApply checks that Apply keeps every
// agent's listener ports apart from the host ports tasks take: a service
// may not map a listener port statically, its own or another's; a listener
// may not open on a port another service maps statically; two tcp
// listeners may not share a port; a service may not be set back to a
// revision that maps a listener port; and a task placed on a named node
// gets no listener port as a dynamic host port.
func TestListenerPortsAreReservedInsideApply(t *testing.T) {
	f := New(nil)
	mustApply(t, f, 1, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1", Name: "n1", CPU: 1024, MemoryMiB: 1024, PortMin: 20000, PortMax: 20010}})
	web := structs.LoadBalancer{ContainerName: "app", ContainerPort: 8080, ListenerPort: 80}
	mustApply(t, f, 2, CmdApplyBalancedService, ApplyService{Service: balanced("web", web), TaskDefinition: servedDef("web", 8080)})

	refused := func(idx uint64, ct CommandType, c ApplyService, field, why string) {
		t.Helper()
		err, ok := apply(t, f, idx, ct, c).(error)
		if !ok || !errors.Is(err, structs.ErrConflict) || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), why) {
			t.Fatalf("service %s: got %v, want a conflict naming %s and %q", c.Service.Name, err, field, why)
		}
		if f.State().Service(c.Service.Name) != nil {
			t.Fatalf("refused service %s was written", c.Service.Name)
		}
	}
	refused(3, CmdApplyService, ApplyService{Service: balanced("api"), TaskDefinition: staticDef("api", 9000, 80)},
		"taskDefinition(api:1).containerDefinitions[0].portMappings[0].hostPort", "listener port of service web")
	own := structs.LoadBalancer{ContainerName: "app", ContainerPort: 8080, ListenerPort: 8443}
	refused(4, CmdApplyBalancedService, ApplyService{Service: balanced("self", own), TaskDefinition: staticDef("self", 8080, 8443)},
		"hostPort", "listener port of service self")

	mustApply(t, f, 5, CmdApplyService, ApplyService{Service: balanced("db"), TaskDefinition: staticDef("db", 5432, 5432)})
	onDB := structs.LoadBalancer{ContainerName: "app", ContainerPort: 8080, ListenerPort: 5432, Protocol: structs.ProtocolTCP}
	refused(6, CmdApplyBalancedService, ApplyService{Service: balanced("pg", onDB), TaskDefinition: servedDef("pg", 8080)},
		"loadBalancers[0].listenerPort", "static host port of service db")

	tcp := structs.LoadBalancer{ContainerName: "app", ContainerPort: 8080, ListenerPort: 6379, Protocol: structs.ProtocolTCP}
	mustApply(t, f, 7, CmdApplyBalancedService, ApplyService{Service: balanced("cache", tcp), TaskDefinition: servedDef("cache", 8080)})
	refused(8, CmdApplyBalancedService, ApplyService{Service: balanced("cache2", tcp), TaskDefinition: servedDef("cache2", 8080)},
		"loadBalancers[0].listenerPort", "already a tcp listener")

	// Nor may a service be set back to a revision that maps one.
	mustApply(t, f, 9, CmdRegisterTaskDefinition, RegisterTaskDefinition{TaskDefinition: *staticDef("db", 5432, 80)})
	if err, ok := apply(t, f, 10, CmdSetServiceRevision, SetServiceRevision{Name: "db", TaskDefinition: "db:2"}).(error); !ok ||
		!strings.Contains(err.Error(), "taskDefinition(db:2)") || !strings.Contains(err.Error(), "listener port of service web") {
		t.Fatalf("db set to a revision on web's listener port: %v", err)
	}
	if got := f.State().Service("db").TaskDefinition; got != "db:1" {
		t.Fatalf("db runs %s after a refused revision, want db:1", got)
	}

	// A listener inside the nodes' dynamic range: a one-off task on a
	// named node gets the next port instead.
	mustApply(t, f, 11, CmdApplyBalancedService, ApplyService{Service: balanced("edge", structs.LoadBalancer{ContainerName: "app", ContainerPort: 8080, ListenerPort: 20000}),
		TaskDefinition: servedDef("edge", 8080)})
	mustApply(t, f, 12, CmdRegisterTaskDefinition, RegisterTaskDefinition{TaskDefinition: *servedDef("job", 8080)})
	mustApply(t, f, 13, CmdPlaceTasks, PlaceTasks{New: []structs.Task{{ID: "j1", TaskDefinition: "job:1", Node: "n1"}}, At: 1})
	if got := f.State().Task("j1").HostPorts; len(got) != 1 || got[0] != 20001 {
		t.Fatalf("host ports %v, want [20001]: 20000 is edge's listener", got)
	}
	mustApply(t, f, 14, CmdRegisterTaskDefinition, RegisterTaskDefinition{TaskDefinition: *staticDef("fixed", 8080, 20000)})
	err, _ := apply(t, f, 15, CmdPlaceTasks, PlaceTasks{New: []structs.Task{{ID: "j2", TaskDefinition: "fixed:1", Node: "n1"}}, At: 1}).(error)
	var pe *structs.PlacementError
	if !errors.As(err, &pe) || pe.Failure.Reasons[0].Kind != structs.ReasonListenerPort || !strings.Contains(err.Error(), "service edge") {
		t.Fatalf("got %v: want n1 refusing host port 20000, edge's listener", err)
	}
}

// TestListenerPortsFollowServices: the state's index of listener ports
// follows every write of a balanced service, its removal, and a restore
// from a snapshot, which the index is not part of.
func TestListenerPortsFollowServices(t *testing.T) {
	f := New(nil)
	web := structs.LoadBalancer{ContainerName: "app", ContainerPort: 8080, ListenerPort: 80}
	mustApply(t, f, 1, CmdApplyBalancedService, ApplyService{Service: balanced("web", web), TaskDefinition: servedDef("web", 8080), At: 1})
	mustApply(t, f, 2, CmdApplyService, ApplyService{Service: structs.Service{Name: "plain", DesiredCount: 1}, TaskDefinition: servedDef("plain", 8080), At: 1})
	if got := f.State().ListenerPorts(); len(got) != 1 || got[80] != "web" {
		t.Fatalf("listener ports %v: want 80 of web", got)
	}
	moved := web
	moved.ListenerPort = 81
	mustApply(t, f, 3, CmdApplyBalancedService, ApplyService{Service: balanced("web", moved), TaskDefinition: servedDef("web", 8080), At: 2})
	if got := f.State().ListenerPorts(); len(got) != 1 || got[81] != "web" {
		t.Fatalf("listener ports %v after the listener moved: want 81 of web", got)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s sink
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	g := New(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(s.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if got := g.State().ListenerPorts(); len(got) != 1 || got[81] != "web" {
		t.Fatalf("listener ports %v after a restore: want 81 of web", got)
	}
	mustApply(t, f, 4, CmdDeleteService, DeleteService{Name: "web"})
	if got := f.State().ListenerPorts(); len(got) != 0 {
		t.Fatalf("listener ports %v after web was deleted", got)
	}
}
