package test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
)

// portService is a service of count tasks of one container with a dynamic
// host port for 8080, spread over the nodes.
func portService(name string, count int) []byte {
	return []byte(fmt.Sprintf(`{"service":%q,"desiredCount":%d,"placementStrategy":[{"type":"spread","field":"node"}],
	  "taskDefinition":{"family":%q,"containerDefinitions":[{"name":"app","image":"img","memory":16,
	    "portMappings":[{"containerPort":8080,"hostPort":0}]}]}}`, name, count, name))
}

// blockingAnswer is what one blocking query came back with.
type blockingAnswer struct {
	ans api.Endpoints
	err error
}

// watchEndpoints runs blocking queries from the answer since on (which
// may itself be the one awaited) until done says an answer is the one
// awaited, checking that each answer's index or hash moves forward; it fails the test when that takes longer than a minute, far
// beyond the time a change takes to be applied.
func watchEndpoints(t *testing.T, cl *api.Client, service string, since api.Endpoints, done func(api.Endpoints) bool) api.Endpoints {
	t.Helper()
	if since.Hash != "" && done(since) {
		return since
	}
	deadline := time.After(time.Minute)
	for {
		ch := make(chan blockingAnswer, 1)
		go func() {
			ans, err := cl.Endpoints(context.Background(), service, &since, 5*time.Minute)
			ch <- blockingAnswer{ans, err}
		}()
		select {
		case <-deadline:
			t.Fatalf("no blocking query past index %d returned the awaited endpoints within a minute", since.Index)
		case b := <-ch:
			if b.err != nil {
				t.Fatal(b.err)
			}
			if b.ans.Index < since.Index {
				t.Fatalf("a blocking query from index %d answered with index %d", since.Index, b.ans.Index)
			}
			if b.ans.Index == since.Index && b.ans.Hash == since.Hash {
				t.Fatalf("a blocking query answered with what it was given, index %d and hash %s, before its wait ran out", since.Index, since.Hash)
			}
			if done(b.ans) {
				return b.ans
			}
			since = b.ans
		}
	}
}

func srvPorts(t *testing.T, addr, name string) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeSRV)
	resp, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var ports []string
	for _, rr := range resp.Answer {
		if srv, ok := rr.(*dns.SRV); ok {
			ports = append(ports, fmt.Sprint(srv.Port))
		}
	}
	sort.Strings(ports)
	return strings.Join(ports, ",")
}

// addresses resolves name's A records, comma-separated, or says NXDOMAIN.
func addresses(t *testing.T, addr, name string) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	resp, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Rcode == dns.RcodeNameError {
		return "NXDOMAIN"
	}
	var ips []string
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	return strings.Join(ips, ",")
}

func endpointPorts(ans api.Endpoints, healthyOnly bool) string {
	var ports []string
	for _, e := range ans.Endpoints {
		if e.Healthy || !healthyOnly {
			ports = append(ports, fmt.Sprint(e.HostPort))
		}
	}
	sort.Strings(ports)
	return strings.Join(ports, ",")
}

// TestEndpointsFollowMembership watches a service's endpoints with
// blocking queries on a follower, and its DNS answers, while it scales up,
// while a task is stopped (it must leave both before its container is
// stopped: the deregistration delay holds the stop back), and while a node
// dies.
func TestEndpointsFollowMembership(t *testing.T) {
	const delay = 10 * time.Second
	c := testcluster.NewTuned(t, 3, 3, func(cfg *agent.Config) {
		cfg.DNSAddr = "127.0.0.1:0"
		cfg.DeregistrationDelay = delay
	})
	ctx := context.Background()
	leader := c.Leader()
	var follower *testcluster.Member
	for _, m := range c.Members {
		if m != leader && follower == nil {
			follower = m
		}
	}
	cl := follower.Client()
	dnsAddr := follower.Agent().DNSAddr()
	if _, err := leader.Client().ApplyService(ctx, "web", portService("web", 1)); err != nil {
		t.Fatal(err)
	}
	// The task becomes healthy once it has run for the grace period; the
	// blocking query wakes for that too, though no entry changes.
	first := watchEndpoints(t, cl, "web", api.Endpoints{Index: 1}, func(a api.Endpoints) bool {
		return len(a.Endpoints) == 1 && a.Endpoints[0].Healthy
	})
	if got := srvPorts(t, dnsAddr, "web.skiff."); got != endpointPorts(first, true) {
		t.Fatalf("SRV web.skiff. ports %q, want the endpoints' %q", got, endpointPorts(first, true))
	}

	if _, err := leader.Client().Scale(ctx, "web", 3); err != nil {
		t.Fatal(err)
	}
	three := watchEndpoints(t, cl, "web", first, func(a api.Endpoints) bool { return len(a.Endpoints) == 3 })
	if three.Index <= first.Index {
		t.Fatalf("index %d after the scale, want more than %d", three.Index, first.Index)
	}
	healthy := watchEndpoints(t, cl, "web", three, func(a api.Endpoints) bool { return strings.Count(endpointPorts(a, true), ",") == 2 })
	if got := srvPorts(t, dnsAddr, "web.skiff."); got != endpointPorts(healthy, true) {
		t.Fatalf("SRV web.skiff. ports %q, want the endpoints' %q", got, endpointPorts(healthy, true))
	}

	// A stopped task leaves the endpoints and DNS while its container
	// still runs out the deregistration delay.
	victim := healthy.Endpoints[0]
	if got := addresses(t, dnsAddr, victim.TaskID+".task.skiff."); got != "127.0.0.1" {
		t.Fatalf("A %s.task.skiff.: %q, want its node's 127.0.0.1", victim.TaskID, got)
	}
	if _, err := cl.Stop(ctx, victim.TaskID); err != nil {
		t.Fatal(err)
	}
	gone := watchEndpoints(t, cl, "web", healthy, func(a api.Endpoints) bool {
		for _, e := range a.Endpoints {
			if e.TaskID == victim.TaskID {
				return false
			}
		}
		return true
	})
	if got := addresses(t, dnsAddr, victim.TaskID+".task.skiff."); got != "NXDOMAIN" {
		t.Fatalf("A of the stopped task's name: %q, want NXDOMAIN", got)
	}
	var runtimeOf *testcluster.Member
	for _, m := range c.Members {
		if a := m.Agent(); a != nil && a.ID() == victim.Node {
			runtimeOf = m
		}
	}
	if runtimeOf.Runtime.Running()[victim.TaskID] == 0 {
		t.Fatalf("task %s left the endpoints only after its containers were stopped", victim.TaskID)
	}
	testutil.Eventually(t, delay+30*time.Second, func() (bool, string) {
		return runtimeOf.Runtime.Running()[victim.TaskID] == 0, "the stopped task's container still runs"
	})

	// The tasks of a node that dies leave too.
	var dead *testcluster.Member
	for _, m := range c.Members {
		if m != leader && m != follower {
			dead = m
		}
	}
	deadID := dead.Agent().ID()
	now := watchEndpoints(t, cl, "web", gone, func(a api.Endpoints) bool {
		for _, e := range a.Endpoints {
			if e.Node == deadID {
				return true
			}
		}
		return false
	})
	c.Kill(dead)
	watchEndpoints(t, cl, "web", now, func(a api.Endpoints) bool {
		for _, e := range a.Endpoints {
			if e.Node == deadID {
				return false
			}
		}
		return true
	})
}
