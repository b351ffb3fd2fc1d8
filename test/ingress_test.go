package test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
)

// loopbackPort returns a port that nothing listens on now on 127.0.0.1.
func loopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Every agent of a cluster opens a service's listener and proxies to its
// task on whichever node it runs, telling it the client's address; the
// listeners close on every agent once the service is deleted. The engines
// are fake, so the task's host port is taken by a plain Go server that
// stands in for its container: each node's port range is that one port.
func TestClusterIngressOnEveryAgent(t *testing.T) {
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend host=%s xff=%s", r.Host, r.Header.Get("X-Forwarded-For"))
	}))
	hostPort := loopbackPort(t)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", hostPort))
	if err != nil {
		t.Fatal(err)
	}
	backend.Listener = ln
	backend.Start()
	defer backend.Close()
	listener := loopbackPort(t)
	// The agents share a host, so each listens on an address of its own
	// on the loopback network: n1 on 127.0.0.1, n2 on 127.0.0.2 ...
	c := testcluster.NewTuned(t, 3, 3, func(cfg *agent.Config) {
		cfg.PortMin, cfg.PortMax = hostPort, hostPort
		cfg.IngressBind = "127.0.0." + strings.TrimPrefix(cfg.Name, "n")
	})
	file := fmt.Sprintf(`{"service":"web","desiredCount":1,
	  "loadBalancers":[{"containerName":"app","containerPort":8080,"listenerPort":%d,"hostnames":["web.test"]}],
	  "taskDefinition":{"family":"web","containerDefinitions":[{"name":"app","image":"img","memory":16,
	    "portMappings":[{"containerPort":8080}]}]}}`, listener)
	if _, err := c.Leader().Client().ApplyService(context.Background(), "web", []byte(file)); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range c.Members {
		url := fmt.Sprintf("http://127.0.0.%d:%d/", i+1, listener)
		testutil.Eventually(t, 60*time.Second, func() (bool, string) {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Host = "web.test"
			resp, err := client.Do(req)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode == 200 && strings.HasPrefix(string(b), "backend host=web.test xff=127."), fmt.Sprintf("%s: %d %q", url, resp.StatusCode, b)
		})
	}
	if err := c.Leader().Client().DeleteService(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Members {
		testutil.Eventually(t, 30*time.Second, func() (bool, string) {
			ports := m.Agent().IngressPorts()
			return len(ports) == 0, fmt.Sprintf("%s still listens on %v", m.Name, ports)
		})
	}
}

// A cluster keeps its listener ports apart from the host ports of tasks:
// a service that maps one statically is refused with the field at fault,
// a one-off task that does is not placed and the scheduler says why, and
// a dynamic host port skips one in the nodes' range.
func TestClusterReservesListenerPorts(t *testing.T) {
	listener := loopbackPort(t)
	c := testcluster.NewTuned(t, 1, 1, func(cfg *agent.Config) {
		cfg.PortMin, cfg.PortMax = listener, listener+1
		cfg.IngressBind = "127.0.0.1"
	})
	ctx := context.Background()
	cl := c.Leader().Client()
	def := func(family string, hostPort int) string {
		return fmt.Sprintf(`{"family":%q,"containerDefinitions":[{"name":"app","image":"img","memory":16,
		  "portMappings":[{"containerPort":8080,"hostPort":%d}]}]}`, family, hostPort)
	}
	web := fmt.Sprintf(`{"service":"web","desiredCount":1,
	  "loadBalancers":[{"containerName":"app","containerPort":8080,"listenerPort":%d}],"taskDefinition":%s}`, listener, def("web", 0))
	if _, err := cl.ApplyService(ctx, "web", []byte(web)); err != nil {
		t.Fatal(err)
	}
	_, err := cl.ApplyService(ctx, "api", []byte(fmt.Sprintf(`{"service":"api","desiredCount":1,"taskDefinition":%s}`, def("api", listener))))
	if err == nil || !strings.Contains(err.Error(), "taskDefinition.containerDefinitions[0].portMappings[0].hostPort") ||
		!strings.Contains(err.Error(), "listener port of service web") {
		t.Fatalf("a service mapping web's listener port statically: %v", err)
	}
	res, err := cl.Run(ctx, []byte(def("job", listener)), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tasks) != 0 || !strings.Contains(res.Failure, fmt.Sprintf("host port %d of container app is the listener port of service web", listener)) {
		t.Fatalf("a one-off task on web's listener port: %+v", res)
	}
	// web's own task took the range's other port; a dynamic one is left
	// for nobody else.
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		ts, err := cl.Tasks(ctx, "web", false)
		return err == nil && len(ts) == 1 && len(ts[0].HostPorts) == 1 && ts[0].HostPorts[0] == listener+1, fmt.Sprintf("web's tasks %+v %v", ts, err)
	})
	res, err = cl.Run(ctx, []byte(def("dyn", 0)), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tasks) != 0 || !strings.Contains(res.Failure, "no free dynamic host port") {
		t.Fatalf("a dynamic host port beside a listener in a range of two: %+v", res)
	}
}
