package test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
)

// hostIP is an IPv4 address of this host that is neither loopback nor a
// container bridge's: the address a node registers so that containers,
// and other hosts, reach its published ports.
func hostIP(t *testing.T) string {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || strings.HasPrefix(ifc.Name, "docker") ||
			strings.HasPrefix(ifc.Name, "br-") || strings.HasPrefix(ifc.Name, "veth") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	t.Skip("skipping: this host has no IPv4 address beside loopback and container bridges for containers to reach it on")
	return ""
}

// upstreamClient is a service whose task's containers each wait for url
// to answer before they serve (and exit 4, to be started again, while it
// does not). With two containers the task has a network of its own, where
// the engine's embedded resolver forwards to the agent; with one it is on
// the default bridge and asks the agent itself.
func upstreamClient(name, url string, containers int) []byte {
	var defs []string
	for i := 0; i < containers; i++ {
		defs = append(defs, fmt.Sprintf(`{"name":"c%d","image":%q,"memory":32,
		  "command":["/testapp","serve","-addr",":%d","-upstream",%q]}`, i, testImage, 8080+i, url))
	}
	return []byte(fmt.Sprintf(`{"service":%q,"desiredCount":1,"restartPolicy":{"maxBackoffSeconds":2},
	  "taskDefinition":{"family":%q,"containerDefinitions":[%s]}}`, name, name, strings.Join(defs, ",")))
}

// TestContainersReachServicesByName runs service web, then services whose
// containers reach http://web.skiff:PORT by name through the agent's DNS
// server, on the default bridge and on a task network of its own, and one
// that reaches service front, which has a load balancer, through the
// local agent's proxy at http://front.skiff:LISTENER; the agent's DNS
// server answers the same names to people on loopback.
func TestContainersReachServicesByName(t *testing.T) {
	ip := hostIP(t)
	d := startTunedDockerAgent(t, func(cfg *agent.Config) {
		cfg.RaftAddr = net.JoinHostPort(ip, strconv.Itoa(portOf(t, cfg.RaftAddr)))
		cfg.DNSAddr = "127.0.0.1:0"
		cfg.DNSForContainers = true
		// A range of its own, so that another test's containers on the
		// same engine cannot hold the ports this one is given.
		cfg.PortMin, cfg.PortMax = 43700, 43799
		// Listeners on every address, so that containers reach them at
		// the node's IP, which DNS answers for services behind them.
		cfg.IngressBind = "0.0.0.0"
	})
	ctx := context.Background()
	if _, err := d.c.ApplyService(ctx, "web", webService(1, "from web")); err != nil {
		t.Fatal(err)
	}
	var eps api.Endpoints
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		var err error
		eps, err = d.c.Endpoints(ctx, "web", nil, 0)
		return err == nil && len(eps.Endpoints) == 1 && eps.Endpoints[0].Healthy, fmt.Sprintf("endpoints %+v %v", eps, err)
	})
	ep := eps.Endpoints[0]
	if ep.Address != ip {
		t.Fatalf("endpoint address %s, want the node's %s", ep.Address, ip)
	}
	if got := addresses(t, d.a.DNSAddr(), "web.skiff."); got != ip {
		t.Fatalf("A web.skiff. from loopback: %q, want %s", got, ip)
	}
	// The same service behind a listener: its name answers with the
	// node's IP, where the agent's proxy listens on the listener port.
	const listener = 43880
	front := strings.Replace(string(webService(1, "from front")), `"service": "web",`,
		fmt.Sprintf(`"service": "front", "loadBalancers": [{"containerName": "app", "containerPort": 8080, "listenerPort": %d}],`, listener), 1)
	front = strings.Replace(front, `"family": "web"`, `"family": "front"`, 1)
	if _, err := d.c.ApplyService(ctx, "front", []byte(front)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		got := addresses(t, d.a.DNSAddr(), "front.skiff.")
		return got == ip, fmt.Sprintf("A front.skiff.: %q, want the node's %s once its task is healthy", got, ip)
	})
	url := fmt.Sprintf("http://web.skiff:%d/health", ep.HostPort)
	clients := map[string]int{"bridged": 1, "paired": 2}
	urls := map[string]string{"bridged": url, "paired": url, "proxied": fmt.Sprintf("http://front.skiff:%d/health", listener)}
	clients["proxied"] = 1
	for name, containers := range clients {
		if _, err := d.c.ApplyService(ctx, name, upstreamClient(name, urls[name], containers)); err != nil {
			t.Fatal(err)
		}
	}
	for name, containers := range clients {
		url := urls[name]
		var task string
		testutil.Eventually(t, 90*time.Second, func() (bool, string) {
			run := d.running(name)
			if len(run) != 1 {
				return false, fmt.Sprintf("%s: %d tasks running", name, len(run))
			}
			task = run[0].ID
			return true, ""
		})
		for i := 0; i < containers; i++ {
			containerLogs(t, d, task, fmt.Sprintf("c%d", i), "upstream ready: "+url)
		}
	}
}

// checkedService is a service of count tasks of one container whose
// health check fails once /sick has been asked for.
func checkedService(count int) []byte {
	return []byte(fmt.Sprintf(`{"service":"checked","desiredCount":%d,"restartPolicy":{"maxBackoffSeconds":2},
	  "taskDefinition":{"family":"checked","containerDefinitions":[{"name":"app","image":%q,"memory":32,
	    "command":["/testapp","serve"],"portMappings":[{"containerPort":8080,"hostPort":0}],
	    "healthCheck":{"command":["CMD","/testapp","probe"],"interval":5,"timeout":2,"retries":1}}]}}`, count, testImage))
}

// TestFailingHealthCheckLeavesDNS makes one task's health check fail and
// checks that its port leaves the service's SRV answer, and reports how
// long after the engine marked the container unhealthy that took.
func TestFailingHealthCheckLeavesDNS(t *testing.T) {
	d := startTunedDockerAgent(t, func(cfg *agent.Config) {
		cfg.DNSAddr = "127.0.0.1:0"
		cfg.PortMin, cfg.PortMax = 43800, 43849
	})
	ctx := context.Background()
	if _, err := d.c.ApplyService(ctx, "checked", checkedService(2)); err != nil {
		t.Fatal(err)
	}
	var eps api.Endpoints
	testutil.Eventually(t, 90*time.Second, func() (bool, string) {
		var err error
		eps, err = d.c.Endpoints(ctx, "checked", nil, 0)
		srv := srvPorts(t, d.a.DNSAddr(), "checked.skiff.")
		return err == nil && strings.Count(srv, ",") == 1 && srv == endpointPorts(eps, true), fmt.Sprintf("SRV %q, endpoints %+v %v", srv, eps, err)
	})
	victim := eps.Endpoints[0]
	port := fmt.Sprint(victim.HostPort)
	if _, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/sick", victim.HostPort)); err != nil {
		t.Fatal(err)
	}
	var unhealthyAt, goneAt time.Time
	deadline := time.Now().Add(60 * time.Second)
	for goneAt.IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("port %s of the sick task is still in SRV checked.skiff. a minute later", port)
		}
		if unhealthyAt.IsZero() {
			if c, err := d.cli.ContainerInspect(ctx, runtime.ContainerName(victim.TaskID, "app")); err == nil && c.State != nil && c.State.Health != nil && c.State.Health.Status == "unhealthy" {
				unhealthyAt = time.Now()
			}
		}
		if !strings.Contains(","+srvPorts(t, d.a.DNSAddr(), "checked.skiff.")+",", ","+port+",") {
			goneAt = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	if unhealthyAt.IsZero() {
		t.Logf("the task left DNS before the test saw its container unhealthy (the stop may have removed its state first)")
	} else {
		t.Logf("the sick task left SRV checked.skiff. %v after the engine marked it unhealthy (polled every 20ms)", goneAt.Sub(unhealthyAt).Round(time.Millisecond))
	}
}
