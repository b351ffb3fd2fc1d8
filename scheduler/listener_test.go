package scheduler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// balanced is a service whose load balancer listens on port.
func balanced(name string, port int) *structs.Service {
	return &structs.Service{Name: name, LoadBalancers: []structs.LoadBalancer{{ContainerName: "app", ContainerPort: 80, ListenerPort: port}}}
}

func TestStaticHostPortOnAListenerPortIsRefusedNamingTheService(t *testing.T) {
	v := newView(node("a", 1000, 1000), node("b", 1000, 1000))
	v.services = []*structs.Service{balanced("web", 8080)}
	plan := Place(v, Job{Service: "api", TaskDef: def(1, 1, 8080), Count: 1})
	if len(plan.Placements) != 0 || plan.Failure == nil {
		t.Fatalf("placed on a listener port: %+v", plan)
	}
	r := plan.Failure.Reasons
	if len(r) != 1 || r[0].Kind != structs.ReasonListenerPort || r[0].Nodes != 2 {
		t.Fatalf("reasons %+v, want one listenerPort reason for both nodes", r)
	}
	for _, want := range []string{"8080", "service web", "container app"} {
		if !strings.Contains(plan.Failure.String(), want) {
			t.Errorf("explanation %q does not name %s", plan.Failure.String(), want)
		}
	}
}

func TestNamedNodeRefusesAListenerPort(t *testing.T) {
	v := newView(node("a", 1000, 1000))
	v.services = []*structs.Service{balanced("web", 8080)}
	plan := PlaceOn(v, Job{TaskDef: def(1, 1, 8080)}, []string{"a"})
	if plan.Failure == nil || !strings.Contains(plan.Failure.String(), "listener port of service web") {
		t.Fatalf("run --node onto a listener port: %+v", plan)
	}
}

func TestUDPHostPortMayMeetAListenerPort(t *testing.T) {
	v := newView(node("a", 1000, 1000))
	v.services = []*structs.Service{balanced("web", 53)}
	td := def(1, 1)
	td.ContainerDefinitions[0].PortMappings = []structs.PortMapping{{ContainerPort: 53, HostPort: 53, Protocol: "udp"}}
	if plan := Place(v, Job{TaskDef: td, Count: 1}); plan.Failure != nil {
		t.Fatalf("a udp port refused for a tcp listener: %s", plan.Failure.String())
	}
}

func TestHostNetworkContainerPortOnAListenerPortIsRefused(t *testing.T) {
	v := newView(node("a", 1000, 1000))
	v.services = []*structs.Service{balanced("web", 9000)}
	td := def(1, 1)
	td.NetworkMode = structs.NetworkHost
	td.ContainerDefinitions[0].PortMappings = []structs.PortMapping{{ContainerPort: 9000}}
	plan := Place(v, Job{TaskDef: td, Count: 1})
	if plan.Failure == nil || plan.Failure.Reasons[0].Kind != structs.ReasonListenerPort {
		t.Fatalf("host network task placed on a listener port: %+v", plan)
	}
}

func TestDynamicPortsSkipListenerPorts(t *testing.T) {
	v := newView(node("a", 1000, 1000))
	v.services = []*structs.Service{balanced("web", 20000), balanced("db", 20002)}
	plan := Place(v, Job{Service: "api", TaskDef: def(1, 1, 0, 0), Count: 2})
	if plan.Failure != nil {
		t.Fatal(plan.Failure.String())
	}
	var got []string
	for _, pl := range plan.Placements {
		got = append(got, fmt.Sprint(pl.HostPorts))
	}
	if s := strings.Join(got, " "); s != "[20001 20003] [20004 20005]" {
		t.Fatalf("host ports %s, want the range without 20000 and 20002", s)
	}
}

func TestListenerPortsCountAgainstTheDynamicRange(t *testing.T) {
	// The range is 20000-20009: with nine of its ports listeners, one
	// dynamic port is left, and a task that needs two does not fit.
	v := newView(node("a", 1000, 1000))
	for p := 20000; p < 20009; p++ {
		v.services = append(v.services, balanced(fmt.Sprint("s", p), p))
	}
	plan := Place(v, Job{TaskDef: def(1, 1, 0, 0), Count: 1})
	if plan.Failure == nil || plan.Failure.Reasons[0].Kind != structs.ReasonDynamicPorts {
		t.Fatalf("want no free dynamic port, got %+v", plan)
	}
}
