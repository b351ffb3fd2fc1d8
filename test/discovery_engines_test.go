package test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/dockertest"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// pinned is a service of one testapp container on the node whose engine
// attribute is engine, waiting for upstream (when set) before it serves.
func pinned(name, engine, upstream string) []byte {
	command := `["/testapp","serve"]`
	if upstream != "" {
		command = fmt.Sprintf(`["/testapp","serve","-upstream",%q]`, upstream)
	}
	return []byte(fmt.Sprintf(`{"service":%q,"desiredCount":1,"restartPolicy":{"maxBackoffSeconds":2},
	  "placementConstraints":[{"type":"memberOf","expression":"attribute:engine == %s"}],
	  "taskDefinition":{"family":%q,"containerDefinitions":[{"name":"app","image":%q,"memory":32,"command":%s,
	    "portMappings":[{"containerPort":8080,"hostPort":0}]}]}}`, name, engine, name, testImage, command))
}

// behind is pinned with a load balancer on listener for its container's
// port 8080.
func behind(name, engine string, listener int) []byte {
	return bytes.Replace(pinned(name, engine, ""), []byte(`"desiredCount":1,`),
		fmt.Appendf(nil, `"desiredCount":1,"loadBalancers":[{"containerName":"app","containerPort":8080,"listenerPort":%d}],`, listener), 1)
}

// TestContainersReachServicesOnAnotherNode runs two agents, each on an
// engine of its own with a bridge of its own (a private daemon, and the
// shared one), each serving DNS and its ingress listeners on its bridge's
// gateway: a container on one node reaches a service on the other at
// http://web.skiff:PORT, and a service with a load balancer at
// http://front.skiff:LISTENER, through its own node's agent, whose proxy
// forwards to the task on the other node.
func TestContainersReachServicesOnAnotherNode(t *testing.T) {
	ip := hostIP(t)
	shared := dockertest.Client(t)
	private := dockertest.PrivateEngine(t, dockertest.EngineOptions{})
	buildTestImage(t)
	testappImage.BuildOn(t, private.Host)
	rts := map[string]*runtime.Docker{}
	for name, host := range map[string]string{"n1": private.Host, "n2": ""} {
		rt, err := runtime.NewDockerAt(host)
		if err != nil {
			t.Fatal(err)
		}
		rts[name] = rt
	}
	// Each agent's listeners are on its own bridge's gateway, which only
	// its own engine's containers are routed to as their host: the name
	// of a service behind a listener answers with it, so a container that
	// reaches the service went through its own node's agent.
	gateways := map[string]string{}
	for name, rt := range rts {
		gw, err := rt.Gateway(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		gateways[name] = gw
	}
	if gateways["n1"] == gateways["n2"] {
		t.Fatalf("both engines' bridges have gateway %s", gateways["n1"])
	}
	var ids []string
	t.Cleanup(func() {
		for _, id := range ids {
			cleanupNode(shared, id)
		}
		for _, rt := range rts {
			rt.Close()
		}
	})
	// Two agents of one cluster, each on its engine, registering the
	// host's IP, which containers of either engine reach the other's
	// published ports on. Gossip listens on every address, so that each
	// joins the other through loopback and probes it at that IP; the
	// API listens on that IP, where the agents forward to each other.
	secret := newSecret(t)
	gossip := map[string]string{"n1": testutil.Addr(t), "n2": testutil.Addr(t)}
	agents := map[string]*agent.Agent{}
	dirs := map[string]string{"n1": t.TempDir(), "n2": t.TempDir()}
	for name, engine := range map[string]string{"n1": "private", "n2": "shared"} {
		other := map[string]string{"n1": "n2", "n2": "n1"}[name]
		_, gport, _ := net.SplitHostPort(gossip[name])
		_, rport, _ := net.SplitHostPort(testutil.Addr(t))
		portMin := map[string]int{"n1": 43850, "n2": 43900}[name]
		a, err := agent.New(agent.Config{Name: name, Token: secret.String(), DataDir: dirs[name], HTTPAddr: net.JoinHostPort(ip, "0"),
			RaftAddr: net.JoinHostPort(ip, rport), GossipAddr: net.JoinHostPort("0.0.0.0", gport), Join: []string{gossip[other]},
			BootstrapExpect: 2, CPU: 4096, MemoryMiB: 4096, Runtime: rts[name], Resync: time.Second, PortMin: portMin, PortMax: portMin + 49,
			Attributes: map[string]string{"engine": engine}, Logger: testutil.Logger(t), RaftLog: testutil.PrefixLogWriter(t, name+": "),
			DNSAddr: "127.0.0.1:0", DNSForContainers: true, IngressBind: gateways[name]})
		if err != nil {
			t.Fatal(err)
		}
		agents[name] = a
		ids = append(ids, a.ID())
		t.Cleanup(func() { a.Close() })
	}
	raw, err := os.ReadFile(filepath.Join(dirs["n1"], agent.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	clientTLS, err := pki.ClientTLS(raw)
	if err != nil {
		t.Fatal(err)
	}
	cl := api.NewClient(agents["n1"].HTTPAddr(), clientTLS)
	cl.Token = secret.ManagementToken()
	ctx := context.Background()
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		nodes, err := cl.Nodes(ctx)
		h, herr := cl.Health(ctx)
		return err == nil && herr == nil && h.Leader != "" && len(nodes) == 2, fmt.Sprintf("health %+v %v, nodes %d %v", h, herr, len(nodes), err)
	})
	if _, err := cl.ApplyService(ctx, "web", pinned("web", "shared", "")); err != nil {
		t.Fatal(err)
	}
	var eps api.Endpoints
	testutil.Eventually(t, 90*time.Second, func() (bool, string) {
		var err error
		eps, err = cl.Endpoints(ctx, "web", nil, 0)
		return err == nil && len(eps.Endpoints) == 1 && eps.Endpoints[0].Healthy, fmt.Sprintf("endpoints %+v %v", eps, err)
	})
	if eps.Endpoints[0].NodeName != "n2" {
		t.Fatalf("web runs on %s, want n2", eps.Endpoints[0].NodeName)
	}
	url := "http://web.skiff:" + strconv.Itoa(eps.Endpoints[0].HostPort) + "/health"
	if _, err := cl.ApplyService(ctx, "client", pinned("client", "private", url)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 90*time.Second, func() (bool, string) {
		ts, err := cl.Tasks(ctx, "client", false)
		if err != nil || len(ts) != 1 || ts[0].LastStatus != structs.StatusRunning || ts[0].Node != agents["n1"].ID() {
			return false, fmt.Sprintf("client tasks %v %v", ts, err)
		}
		var b bytes.Buffer
		if err := cl.Logs(ctx, ts[0].ID, "app", false, &b); err != nil {
			return false, err.Error()
		}
		return strings.Contains(b.String(), "upstream ready: "+url), fmt.Sprintf("client on %s logged %q", ts[0].Node, b.String())
	})

	// The same through a load balancer: front runs on n2 alone, and a
	// container on n1 reaches it on the listener port by name.
	const listener = 43960
	if _, err := cl.ApplyService(ctx, "front", behind("front", "shared", listener)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 90*time.Second, func() (bool, string) {
		eps, err := cl.Endpoints(ctx, "front", nil, 0)
		return err == nil && len(eps.Endpoints) == 1 && eps.Endpoints[0].Healthy && eps.Endpoints[0].NodeName == "n2", fmt.Sprintf("front's endpoints %+v %v", eps, err)
	})
	for name, a := range agents {
		testutil.Eventually(t, 30*time.Second, func() (bool, string) {
			got := addresses(t, a.DNSAddr(), "front.skiff.")
			return got == gateways[name], fmt.Sprintf("%s answers front.skiff. with %q, want its own listeners' %s", name, got, gateways[name])
		})
	}
	proxied := fmt.Sprintf("http://front.skiff:%d/health", listener)
	if _, err := cl.ApplyService(ctx, "proxied", pinned("proxied", "private", proxied)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 90*time.Second, func() (bool, string) {
		ts, err := cl.Tasks(ctx, "proxied", false)
		if err != nil || len(ts) != 1 || ts[0].LastStatus != structs.StatusRunning || ts[0].Node != agents["n1"].ID() {
			return false, fmt.Sprintf("proxied tasks %v %v", ts, err)
		}
		var b bytes.Buffer
		if err := cl.Logs(ctx, ts[0].ID, "app", false, &b); err != nil {
			return false, err.Error()
		}
		return strings.Contains(b.String(), "upstream ready: "+proxied), fmt.Sprintf("proxied on %s logged %q", ts[0].Node, b.String())
	})
}
