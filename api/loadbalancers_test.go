package api

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// balancedFile is a service file with the given loadBalancers, whose app
// container maps 8080 and 9000 over tcp and 53 over udp.
func balancedFile(lbs string) string {
	return `{"service":"web","desiredCount":1,"loadBalancers":` + lbs + `,
	  "taskDefinition":{"family":"web","containerDefinitions":[{"name":"app","image":"x",
	    "portMappings":[{"containerPort":8080},{"containerPort":9000},{"containerPort":53,"protocol":"udp"}]}]}}`
}

func TestDecodeLoadBalancers(t *testing.T) {
	svc, _, warnings, err := DecodeServiceFile([]byte(balancedFile(`[
	  {"containerName":"app","containerPort":8080,"listenerPort":80,"hostnames":["Web.Example.com"],"pathPrefix":"/api/",
	   "balancing":"leastConnections","targetGroupArn":"arn:aws:elasticloadbalancing:x"},
	  {"containerName":"app","containerPort":9000,"listenerPort":5432,"protocol":"tcp","proxyProtocol":true}]`)))
	if err != nil {
		t.Fatal(err)
	}
	want := []structs.LoadBalancer{
		{ContainerName: "app", ContainerPort: 8080, ListenerPort: 80, Hostnames: []string{"web.example.com"}, PathPrefix: "/api",
			Balancing: structs.BalanceLeastConnections},
		{ContainerName: "app", ContainerPort: 9000, ListenerPort: 5432, Protocol: structs.ProtocolTCP, ProxyProtocol: true},
	}
	if !reflect.DeepEqual(svc.LoadBalancers, want) {
		t.Fatalf("loadBalancers %+v, want %+v", svc.LoadBalancers, want)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "loadBalancers[0].targetGroupArn") {
		t.Errorf("warnings %q: want one for targetGroupArn", warnings)
	}
}

func TestDecodeLoadBalancersRefusesBadEntries(t *testing.T) {
	const ok = `"containerName":"app","containerPort":8080,"listenerPort":80`
	for _, tc := range []struct{ name, lbs, field, msg string }{
		{"no container", `[{"containerPort":8080,"listenerPort":80}]`, "loadBalancers[0].containerName", "required"},
		{"unknown container", `[{"containerName":"db","containerPort":8080,"listenerPort":80}]`, "loadBalancers[0].containerName", "not a container"},
		{"unmapped port", `[{"containerName":"app","containerPort":8081,"listenerPort":80}]`, "loadBalancers[0].containerPort", "not a tcp port mapping"},
		{"udp port", `[{"containerName":"app","containerPort":53,"listenerPort":53}]`, "loadBalancers[0].containerPort", "not a tcp port mapping"},
		{"container port out of range", `[{"containerName":"app","containerPort":70000,"listenerPort":80}]`, "loadBalancers[0].containerPort", "out of range"},
		{"no listener port", `[{"containerName":"app","containerPort":8080}]`, "loadBalancers[0].listenerPort", "out of range"},
		{"protocol", `[{` + ok + `,"protocol":"udp"}]`, "loadBalancers[0].protocol", "expected http"},
		{"balancing", `[{` + ok + `,"balancing":"random"}]`, "loadBalancers[0].balancing", "expected roundRobin"},
		{"proxy protocol on http", `[{` + ok + `,"proxyProtocol":true}]`, "loadBalancers[0].proxyProtocol", "tcp only"},
		{"hostnames on tcp", `[{` + ok + `,"protocol":"tcp","hostnames":["a.b"]}]`, "loadBalancers[0].hostnames", "http only"},
		{"path on tcp", `[{` + ok + `,"protocol":"tcp","pathPrefix":"/a"}]`, "loadBalancers[0].pathPrefix", "http only"},
		{"bad hostname", `[{` + ok + `,"hostnames":["http://a.b"]}]`, "loadBalancers[0].hostnames[0]", "host name"},
		{"hostname twice", `[{` + ok + `,"hostnames":["a.b","A.B"]}]`, "loadBalancers[0].hostnames[1]", "named twice"},
		{"relative path", `[{` + ok + `,"pathPrefix":"api"}]`, "loadBalancers[0].pathPrefix", "starting with /"},
		{"path with query", `[{` + ok + `,"pathPrefix":"/a?b"}]`, "loadBalancers[0].pathPrefix", "without query"},
		{"unknown field", `[{` + ok + `,"weight":3}]`, "loadBalancers[0].weight", "unknown field"},
		{"too many", `[{` + ok + `},{` + ok + `},{` + ok + `},{` + ok + `},{` + ok + `},{` + ok + `}]`, "loadBalancers", "at most 5"},
		{"two tcp on one port", `[{` + ok + `,"protocol":"tcp"},{"containerName":"app","containerPort":9000,"listenerPort":80,"protocol":"tcp"}]`,
			"loadBalancers[1].listenerPort", "already a tcp listener"},
		{"http and tcp on one port", `[{` + ok + `},{"containerName":"app","containerPort":9000,"listenerPort":80,"protocol":"tcp"}]`,
			"loadBalancers[1].listenerPort", "either http or tcp"},
		{"one route twice", `[{` + ok + `},{"containerName":"app","containerPort":9000,"listenerPort":80,"pathPrefix":"/"}]`,
			"loadBalancers[1].listenerPort", "every host"},
		{"one host twice", `[{` + ok + `,"hostnames":["a.b","c.d"]},{"containerName":"app","containerPort":9000,"listenerPort":80,"hostnames":["C.D"]}]`,
			"loadBalancers[1].listenerPort", "host c.d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := DecodeServiceFile([]byte(balancedFile(tc.lbs)))
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Message, tc.msg) {
				t.Fatalf("err %v: want field %s, %q", err, tc.field, tc.msg)
			}
		})
	}
	// Routes that differ by host or path share a port.
	if _, _, _, err := DecodeServiceFile([]byte(balancedFile(`[{` + ok + `,"hostnames":["a.b"]},{` + ok + `},
	  {"containerName":"app","containerPort":9000,"listenerPort":80,"pathPrefix":"/admin"}]`))); err != nil {
		t.Fatalf("routes that differ were refused: %v", err)
	}
	if _, _, _, err := DecodeScheduleFile([]byte(`{"service":"b","schedule":"rate(1 day)","loadBalancers":[{` + ok + `}],
	  "taskDefinition":{"family":"b","containerDefinitions":[{"name":"app","image":"x"}]}}`)); err == nil || !strings.Contains(err.Error(), "loadBalancers") {
		t.Fatalf("a schedule took loadBalancers: %v", err)
	}
}

// The API refuses a listener another service holds (409) and a registered
// definition that lacks the port (400), naming the field.
func TestApplyRefusesTakenListeners(t *testing.T) {
	f := newFake()
	f.state.services[1].LoadBalancers = []structs.LoadBalancer{{ContainerName: "app", ContainerPort: 5432, ListenerPort: 5432, Protocol: structs.ProtocolTCP}}
	srv := serve(t, f, &logBuffer{})
	a := send(t, srv.URL, "PUT", "/v1/services/web", balancedFile(`[{"containerName":"app","containerPort":8080,"listenerPort":5432}]`), nil)
	if a.status != http.StatusConflict {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	checkJSON(t, a.body, map[string]any{"field": "loadBalancers[0].listenerPort", "error": "~by service db"})
	a = send(t, srv.URL, "PUT", "/v1/services/web", `{"service":"web","desiredCount":1,"taskDefinition":"web:1",
	  "loadBalancers":[{"containerName":"app","containerPort":8080,"listenerPort":80}]}`, nil)
	if a.status != http.StatusBadRequest {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	checkJSON(t, a.body, map[string]any{"field": "loadBalancers[0].containerPort", "error": "~web:1"})
	a = send(t, srv.URL, "PUT", "/v1/services/web", balancedFile(`[{"containerName":"app","containerPort":8080,"listenerPort":80}]`), nil)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
}

func TestApplyRefusesAHostPortOnAListenerPort(t *testing.T) {
	f := newFake()
	f.state.services[1].LoadBalancers = []structs.LoadBalancer{{ContainerName: "app", ContainerPort: 5432, ListenerPort: 5432, Protocol: structs.ProtocolTCP}}
	f.state.taskdefs = append(f.state.taskdefs, &structs.TaskDefinition{Family: "db", Revision: 2, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "pg", Image: "x", PortMappings: []structs.PortMapping{{ContainerPort: 5432}, {ContainerPort: 9187, HostPort: 9187}}}}})
	srv := serve(t, f, &logBuffer{})
	onListener := `{"service":"web","desiredCount":1,"taskDefinition":{"family":"web","containerDefinitions":[{"name":"app","image":"x",
	    "portMappings":[{"containerPort":8080},{"containerPort":5432,"hostPort":5432}]}]}}`
	a := send(t, srv.URL, "PUT", "/v1/services/web", onListener, nil)
	if a.status != http.StatusConflict {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	checkJSON(t, a.body, map[string]any{"field": "taskDefinition.containerDefinitions[0].portMappings[1].hostPort", "error": "~listener port of service db"})

	a = send(t, srv.URL, "PUT", "/v1/services/web", balancedFile(`[{"containerName":"app","containerPort":8080,"listenerPort":9187}]`), nil)
	if a.status != http.StatusConflict {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	checkJSON(t, a.body, map[string]any{"field": "loadBalancers[0].listenerPort", "error": "~static host port of service db"})
}
