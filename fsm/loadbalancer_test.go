package fsm

import (
	"errors"
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
