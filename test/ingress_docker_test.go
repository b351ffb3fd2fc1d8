package test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/endpoints"
	"github.com/skiff-run/skiff/internal/dockertest"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
)

// ingressImage is the test image under a tag of its own, for the tests
// that need its /whoami and proxied commands: another checkout's test run
// on the same engine that builds skiff-testapp:latest from an older
// testapp cannot replace it under them.
var ingressImage = &dockertest.Image{Tag: "skiff-testapp:ingress", Pkg: "./testapp", Bin: "testapp", Tail: `CMD ["/testapp", "serve"]`}

// whoamiService is a service of two testapp servers behind an http
// listener for host.
func whoamiService(name string, listener int, host string) []byte {
	return []byte(fmt.Sprintf(`{"service": %q, "desiredCount": 2,
  "loadBalancers": [{"containerName": "app", "containerPort": 8080, "listenerPort": %d, "hostnames": [%q]}],
  "taskDefinition": {"family": %q, "containerDefinitions": [
    {"name": "app", "image": %q, "command": ["/testapp", "serve"], "memory": 32, "essential": true, "stopTimeout": 2,
     "portMappings": [{"containerPort": 8080}],
     "environment": [{"name": "GREETING", "value": %q}]}]}}`, name, listener, host, name, ingressImage.Tag, name))
}

// askWhoami sends GET /whoami for host to the listener and returns the
// answer.
func askWhoami(c *http.Client, listener int, host string) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/whoami", listener), nil)
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// Two http services share one listener, routed by Host; their tasks see
// the client's address in X-Forwarded-For (and the proxy as their peer, no
// source NAT in between), and a loop of requests goes on while task
// containers are killed and replaced: no request fails beyond the one in
// flight at each kill.
func TestDockerIngressRoutesByHostAndSurvivesKills(t *testing.T) {
	// A range of its own, so that another test's containers on the same
	// engine cannot hold the ports this one is given.
	d := startTunedDockerAgent(t, func(cfg *agent.Config) { cfg.PortMin, cfg.PortMax = 44600, 44649 })
	ingressImage.Build(t)
	listener := loopbackPort(t)
	ctx := context.Background()
	for _, s := range []string{"alpha", "beta"} {
		if _, err := d.c.ApplyService(ctx, s, whoamiService(s, listener, s+".test")); err != nil {
			t.Fatal(err)
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, s := range []string{"alpha", "beta"} {
		testutil.Eventually(t, 90*time.Second, func() (bool, string) {
			body, err := askWhoami(client, listener, s+".test")
			return err == nil && len(d.running(s)) == 2, fmt.Sprintf("%s: %q %v, %d running", s, body, err, len(d.running(s)))
		})
		body, _ := askWhoami(client, listener, s+".test")
		if !strings.HasPrefix(body, "greeting="+s+" host="+s+".test xff=127.0.0.1 proto=http forwarded=for=127.0.0.1;host="+s+".test;proto=http peer=") {
			t.Fatalf("%s's task saw %q", s, body)
		}
	}

	const total, kills = 600, 4
	var failures []string
	killed := 0
	for i := range total {
		s := []string{"alpha", "beta"}[i%2]
		// Every 120 requests a task of one service dies, once the
		// service again has two healthy tasks, so that one of them
		// always serves.
		if i > 0 && i%(total/(kills+1)) == 0 && killed < kills {
			victim := []string{"alpha", "beta"}[killed%2]
			var task string
			testutil.Eventually(t, 90*time.Second, func() (bool, string) {
				var healthy []string
				for _, e := range endpoints.Of(d.a.State(), victim, time.Now()) {
					if e.Healthy {
						healthy = append(healthy, e.TaskID)
					}
				}
				if len(healthy) != 2 {
					return false, fmt.Sprintf("%d of %s's 2 tasks healthy", len(healthy), victim)
				}
				task = healthy[0]
				return true, ""
			})
			if err := d.cli.ContainerKill(ctx, runtime.ContainerName(task, "app"), "KILL"); err != nil {
				t.Fatal(err)
			}
			killed++
			t.Logf("request %d: killed task %s of %s", i, task, victim)
		}
		body, err := askWhoami(client, listener, s+".test")
		switch {
		case err != nil:
			failures = append(failures, fmt.Sprintf("request %d (%s): %v", i, s, err))
		case !strings.HasPrefix(body, "greeting="+s+" "):
			failures = append(failures, fmt.Sprintf("request %d (%s) reached another service: %q", i, s, body))
		}
	}
	t.Logf("%d requests, %d kills, %d failed", total, killed, len(failures))
	for _, f := range failures {
		t.Log(f)
	}
	if killed != kills {
		t.Fatalf("killed %d tasks, want %d", killed, kills)
	}
	// One client sends one request at a time, so at most one is in
	// flight at each kill.
	if len(failures) > kills {
		t.Fatalf("%d of %d requests failed across %d kills: more than the one in flight at each", len(failures), total, kills)
	}
}

// A tcp listener with proxyProtocol tells its task the client's address
// in a PROXY protocol v2 header.
func TestDockerIngressSendsProxyProtocol(t *testing.T) {
	d := startTunedDockerAgent(t, func(cfg *agent.Config) { cfg.PortMin, cfg.PortMax = 44650, 44659 })
	ingressImage.Build(t)
	listener := loopbackPort(t)
	file := fmt.Sprintf(`{"service": "tcpapp", "desiredCount": 1,
  "loadBalancers": [{"containerName": "app", "containerPort": 9000, "listenerPort": %d, "protocol": "tcp", "proxyProtocol": true}],
  "taskDefinition": {"family": "tcpapp", "containerDefinitions": [
    {"name": "app", "image": %q, "command": ["/testapp", "proxied"], "memory": 32, "essential": true, "stopTimeout": 2,
     "portMappings": [{"containerPort": 9000}]}]}}`, listener, ingressImage.Tag)
	if _, err := d.c.ApplyService(context.Background(), "tcpapp", []byte(file)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 90*time.Second, func() (bool, string) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", listener), 5*time.Second)
		if err != nil {
			return false, err.Error()
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		want := "client=" + c.LocalAddr().String() + "\n"
		return line == want, fmt.Sprintf("task answered %q %v, want %q", line, err, want)
	})
}
