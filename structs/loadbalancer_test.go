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
