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
