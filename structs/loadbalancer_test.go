package structs

import (
	"strings"
	"testing"
)

func TestLoadBalancerConflict(t *testing.T) {
	http := func(port int, path string, hosts ...string) LoadBalancer {
		return LoadBalancer{ListenerPort: port, PathPrefix: path, Hostnames: hosts}
	}
	tcp := LoadBalancer{ListenerPort: 80, Protocol: ProtocolTCP}
	for _, tc := range []struct {
		name string
		a, b LoadBalancer
		want string
	}{
		{"other ports", http(80, ""), http(81, ""), ""},
		{"both catch-all", http(80, ""), http(80, "/"), "every host"},
		{"other paths", http(80, "/a"), http(80, "/b"), ""},
		{"other hosts", http(80, "", "a.example"), http(80, "", "b.example"), ""},
		{"catch-all beside a host", http(80, ""), http(80, "", "a.example"), ""},
		{"a shared host", http(80, "/x", "a.example", "b.example"), http(80, "/x", "b.example"), "host b.example"},
		{"two tcp", tcp, tcp, "takes one service"},
		{"tcp and http", tcp, http(80, "/a"), "either http or tcp"},
	} {
		got := tc.a.Conflict(&tc.b)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestListenerConflictSkipsTheServiceItself(t *testing.T) {
	lbs := []LoadBalancer{{ListenerPort: 80}}
	others := []*Service{{Name: "web", LoadBalancers: lbs}, {Name: "api"}}
	if i, why := ListenerConflict("web", lbs, others); i != -1 {
		t.Fatalf("web conflicts with itself: %s", why)
	}
	if i, why := ListenerConflict("new", lbs, others); i != 0 || !strings.Contains(why, "by service web") {
		t.Fatalf("ListenerConflict = %d, %q: want entry 0, by service web", i, why)
	}
}

func TestReservedPortConflict(t *testing.T) {
	mapping := func(container, host int, protocol string) *TaskDefinition {
		return &TaskDefinition{Family: "x", Revision: 1, ContainerDefinitions: []ContainerDefinition{{Name: "app",
			PortMappings: []PortMapping{{ContainerPort: 8080}, {ContainerPort: container, HostPort: host, Protocol: protocol}}}}}
	}
	lb := func(port int) []LoadBalancer {
		return []LoadBalancer{{ContainerName: "app", ContainerPort: 8080, ListenerPort: port}}
	}
	defs := map[string]*TaskDefinition{"db:1": mapping(5432, 5432, "")}
	def := func(ref string) *TaskDefinition { return defs[ref] }
	others := []*Service{{Name: "web", TaskDefinition: "web:1", LoadBalancers: lb(80)}, {Name: "db", TaskDefinition: "db:1"}}
	hostMode := mapping(80, 0, "")
	hostMode.NetworkMode = NetworkHost
	cases := []struct {
		name        string
		s           *Service
		td          *TaskDefinition
		field, want string
	}{
		{"static port on another's listener", &Service{Name: "api"}, mapping(9000, 80, ""), "td.containerDefinitions[0].portMappings[1].hostPort", "listener port of service web"},
		{"static port on its own listener", &Service{Name: "api", LoadBalancers: lb(9000)}, mapping(9000, 9000, ""), "td.containerDefinitions[0].portMappings[1].hostPort", "listener port of service api"},
		{"host network port on a listener", &Service{Name: "api"}, hostMode, "td.containerDefinitions[0].portMappings[1].containerPort", "host network mode"},
		{"listener on another's static port", &Service{Name: "api", LoadBalancers: lb(5432)}, mapping(9000, 0, ""), "loadBalancers[0].listenerPort", "static host port of service db"},
		{"udp beside a listener", &Service{Name: "dns"}, mapping(80, 80, "udp"), "", ""},
		{"a new version of web itself", &Service{Name: "web", LoadBalancers: lb(81)}, mapping(9000, 80, ""), "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			field, why := ReservedPortConflict(tc.s, tc.td, "td", others, def)
			if field != tc.field || !strings.Contains(why, tc.want) {
				t.Fatalf("got %q: %q, want %q: ...%s...", field, why, tc.field, tc.want)
			}
		})
	}
}
