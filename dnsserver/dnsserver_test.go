package dnsserver

import (
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/skiff-run/skiff/structs"
)

// state is a fixed replica view for the tests; it is safe for concurrent
// reads, and set replaces its tasks under the lock.
type state struct {
	mu       sync.Mutex
	services []*structs.Service
	tasks    []*structs.Task
	nodes    []*structs.Node
	defs     map[string]*structs.TaskDefinition
}

func (s *state) Services() []*structs.Service { return s.services }
func (s *state) Service(name string) *structs.Service {
	for _, svc := range s.services {
		if svc.Name == name {
			return svc
		}
	}
	return nil
}
func (s *state) Nodes() []*structs.Node { return s.nodes }
func (s *state) Node(id string) *structs.Node {
	for _, n := range s.nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}
func (s *state) TaskDefinition(ref string) *structs.TaskDefinition { return s.defs[ref] }
func (s *state) Task(id string) *structs.Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tasks {
		if t.ID == id {
			return t
		}
	}
	return nil
}
func (s *state) TasksByService(service string) []*structs.Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*structs.Task
	for _, t := range s.tasks {
		if t.Service == service {
			out = append(out, t)
		}
	}
	return out
}

var started = time.UnixMilli(1_000_000)

func task(id, service, node string, health string, ports ...int) *structs.Task {
	return &structs.Task{ID: id, Service: service, TaskDefinition: service + ":1", Node: node, DesiredStatus: structs.StatusRunning,
		LastStatus: structs.StatusRunning, HostPorts: ports, StartedAt: started.UnixMilli(),
		Containers: []structs.ContainerState{{Name: "app", Status: "running", Health: health}}}
}

// cluster has three nodes (one on IPv6, one down) and services web (two
// healthy tasks and an unhealthy one, health checked), Api (one task
// without a health check), worker (no ports) and empty (no tasks).
func cluster() *state {
	checked := &structs.TaskDefinition{Family: "web", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "app", PortMappings: []structs.PortMapping{{ContainerPort: 8080}}, HealthCheck: &structs.HealthCheck{Command: []string{"CMD", "/probe"}}}}}
	plain := &structs.TaskDefinition{Family: "Api", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "app", PortMappings: []structs.PortMapping{{ContainerPort: 80}}}}}
	noPorts := &structs.TaskDefinition{Family: "worker", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{{Name: "app"}}}
	return &state{
		services: []*structs.Service{{Name: "Api"}, {Name: "empty"}, {Name: "web"}, {Name: "worker"}},
		nodes: []*structs.Node{
			{ID: "n1", Name: "pi-1", Address: "10.0.0.1:7071", Status: structs.NodeReady},
			{ID: "n2", Name: "pi-2", Address: "[fd00::2]:7071", Status: structs.NodeReady},
			{ID: "n3", Name: "pi-3", Address: "10.0.0.3:7071", Status: structs.NodeDown},
		},
		defs: map[string]*structs.TaskDefinition{"web:1": checked, "Api:1": plain, "worker:1": noPorts, "empty:1": plain},
		tasks: []*structs.Task{
			task("0196-web-a", "web", "n1", "healthy", 20000),
			task("0196-web-b", "web", "n2", "healthy", 20001),
			task("0196-web-c", "web", "n1", "unhealthy", 20002),
			task("0196-web-d", "web", "n3", "healthy", 20003),
			task("0196-api-a", "Api", "n1", "", 21000),
			task("0196-wrk-a", "worker", "n2", ""),
		},
	}
}

// serve starts a server over st on loopback and returns its address.
func serve(t *testing.T, st *state, cfg Config) (*Server, string) {
	t.Helper()
	cfg.State = func() State { return st }
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return started.Add(time.Hour) }
	}
	s := New(cfg)
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, addr
}

func query(t *testing.T, addr, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return resp
}

// records prints an answer section one record a line, sorted, without
// the TTL column.
func records(rrs []dns.RR) string {
	var out []string
	for _, rr := range rrs {
		f := strings.Fields(rr.String())
		out = append(out, strings.Join(slices.Delete(f, 1, 2), " "))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func TestServiceRecordsAreThoseOfHealthyTasks(t *testing.T) {
	_, addr := serve(t, cluster(), Config{})
	for _, network := range []string{"udp", "tcp"} {
		a := query(t, addr, network, "web.skiff.", dns.TypeA)
		if a.Rcode != dns.RcodeSuccess || !a.Authoritative || records(a.Answer) != "web.skiff. IN A 10.0.0.1" {
			t.Fatalf("%s A web: rcode %s, answer:\n%s", network, dns.RcodeToString[a.Rcode], records(a.Answer))
		}
		if ttl := a.Answer[0].Header().Ttl; ttl != DefaultTTL {
			t.Fatalf("TTL %d, want %d", ttl, DefaultTTL)
		}
	}
	if a := query(t, addr, "udp", "web.skiff.", dns.TypeAAAA); records(a.Answer) != "web.skiff. IN AAAA fd00::2" {
		t.Fatalf("AAAA web:\n%s", records(a.Answer))
	}
	srv := query(t, addr, "udp", "web.skiff.", dns.TypeSRV)
	if got, want := records(srv.Answer), "web.skiff. IN SRV 1 1 20000 pi-1.node.skiff.\nweb.skiff. IN SRV 1 1 20001 pi-2.node.skiff."; got != want {
		t.Fatalf("SRV web:\n%s\nwant:\n%s", got, want)
	}
	if got, want := records(srv.Extra), "pi-1.node.skiff. IN A 10.0.0.1\npi-2.node.skiff. IN AAAA fd00::2"; got != want {
		t.Fatalf("SRV web, additional:\n%s\nwant:\n%s", got, want)
	}
}

func TestNamesAreCaseInsensitive(t *testing.T) {
	_, addr := serve(t, cluster(), Config{})
	if a := query(t, addr, "udp", "api.SKIFF.", dns.TypeA); len(a.Answer) != 1 {
		t.Fatalf("A api.SKIFF. for service Api: rcode %s, answer:\n%s", dns.RcodeToString[a.Rcode], records(a.Answer))
	}
	if a := query(t, addr, "udp", "PI-1.node.skiff.", dns.TypeA); records(a.Answer) != "pi-1.node.skiff. IN A 10.0.0.1" {
		t.Fatalf("A PI-1.node:\n%s", records(a.Answer))
	}
}

func TestGracePeriodWithoutHealthCheck(t *testing.T) {
	now := started.Add(time.Second)
	var mu sync.Mutex
	_, addr := serve(t, cluster(), Config{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	if a := query(t, addr, "udp", "api.skiff.", dns.TypeA); a.Rcode != dns.RcodeSuccess || len(a.Answer) != 0 || len(a.Ns) != 1 {
		t.Fatalf("a task running for 1s without a health check: want no record yet, got rcode %s:\n%s", dns.RcodeToString[a.Rcode], records(a.Answer))
	}
	mu.Lock()
	now = started.Add(time.Minute)
	mu.Unlock()
	if a := query(t, addr, "udp", "api.skiff.", dns.TypeA); len(a.Answer) != 1 {
		t.Fatalf("after the grace period: want the task's node, got:\n%s", records(a.Answer))
	}
}

func TestServiceWithoutPortsPointsAtNodes(t *testing.T) {
	_, addr := serve(t, cluster(), Config{})
	if a := query(t, addr, "udp", "worker.skiff.", dns.TypeAAAA); records(a.Answer) != "worker.skiff. IN AAAA fd00::2" {
		t.Fatalf("AAAA worker:\n%s", records(a.Answer))
	}
	if a := query(t, addr, "udp", "worker.skiff.", dns.TypeSRV); len(a.Answer) != 0 || a.Rcode != dns.RcodeSuccess {
		t.Fatalf("SRV worker: want no record, got:\n%s", records(a.Answer))
	}
}

func TestTaskAndNodeNames(t *testing.T) {
	_, addr := serve(t, cluster(), Config{})
	if a := query(t, addr, "udp", "0196-web-c.task.skiff.", dns.TypeSRV); records(a.Answer) != "0196-web-c.task.skiff. IN SRV 1 1 20002 pi-1.node.skiff." {
		t.Fatalf("SRV of a task, healthy or not:\n%s", records(a.Answer))
	}
	if a := query(t, addr, "udp", "0196-web-b.task.skiff.", dns.TypeAAAA); records(a.Answer) != "0196-web-b.task.skiff. IN AAAA fd00::2" {
		t.Fatalf("AAAA of a task:\n%s", records(a.Answer))
	}
	for _, name := range []string{"0196-web-d.task.skiff.", "pi-3.node.skiff.", "nosuch.task.skiff.", "nosuch.node.skiff."} {
		if a := query(t, addr, "udp", name, dns.TypeA); a.Rcode != dns.RcodeNameError {
			t.Fatalf("%s (down node, or unknown): rcode %s, want NXDOMAIN", name, dns.RcodeToString[a.Rcode])
		}
	}
}

func TestUnknownNamesInTheDomainAreNXDOMAIN(t *testing.T) {
	_, addr := serve(t, cluster(), Config{})
	for _, name := range []string{"nosuch.skiff.", "a.b.web.skiff.", "web.service.skiff."} {
		a := query(t, addr, "udp", name, dns.TypeA)
		if a.Rcode != dns.RcodeNameError || len(a.Answer) != 0 {
			t.Fatalf("%s: rcode %s, answer %v: want NXDOMAIN", name, dns.RcodeToString[a.Rcode], a.Answer)
		}
		if len(a.Ns) != 1 || a.Ns[0].Header().Rrtype != dns.TypeSOA {
			t.Fatalf("%s: want the domain's SOA in the authority section, got %v", name, a.Ns)
		}
	}
	// A service with no healthy task exists: no records, but no NXDOMAIN.
	if a := query(t, addr, "udp", "empty.skiff.", dns.TypeA); a.Rcode != dns.RcodeSuccess || len(a.Answer) != 0 {
		t.Fatalf("empty: rcode %s, answer %v: want NOERROR and nothing", dns.RcodeToString[a.Rcode], a.Answer)
	}
	if a := query(t, addr, "udp", "skiff.", dns.TypeSOA); len(a.Answer) != 1 {
		t.Fatalf("SOA of the domain: %v", a.Answer)
	}
}

func TestAnswersFollowTheState(t *testing.T) {
	st := cluster()
	_, addr := serve(t, st, Config{})
	st.mu.Lock()
	b := *st.tasks[1]
	b.Containers = []structs.ContainerState{{Name: "app", Status: "running", Health: "unhealthy"}}
	a := *st.tasks[0]
	a.DesiredStatus = structs.StatusStopped
	st.tasks[0], st.tasks[1] = &a, &b
	st.mu.Unlock()
	if resp := query(t, addr, "udp", "web.skiff.", dns.TypeSRV); len(resp.Answer) != 0 {
		t.Fatalf("a task asked to stop and one failing its check: want both gone, got:\n%s", records(resp.Answer))
	}
}

func TestConfiguredDomain(t *testing.T) {
	_, addr := serve(t, cluster(), Config{Domain: "Cluster.Internal"})
	if a := query(t, addr, "udp", "web.cluster.internal.", dns.TypeA); len(a.Answer) != 1 {
		t.Fatalf("A web.cluster.internal.: rcode %s, answer %v", dns.RcodeToString[a.Rcode], a.Answer)
	}
}

// upstream is a resolver on loopback that answers every A query with
// 192.0.2.7, and counts the queries it gets.
func upstream(t *testing.T) (addr string, queries func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		mu.Lock()
		n++
		mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.7")})
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestOtherNamesAreForwarded(t *testing.T) {
	up, queries := upstream(t)
	// The first upstream refuses connections: the next one answers.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.LocalAddr().String()
	dead.Close()
	_, addr := serve(t, cluster(), Config{Upstreams: []string{deadAddr, up}})
	a := query(t, addr, "udp", "example.org.", dns.TypeA)
	if a.Rcode != dns.RcodeSuccess || records(a.Answer) != "example.org. IN A 192.0.2.7" {
		t.Fatalf("forwarded example.org.: rcode %s, answer:\n%s", dns.RcodeToString[a.Rcode], records(a.Answer))
	}
	if queries() != 1 {
		t.Fatalf("upstream got %d queries, want 1", queries())
	}
	// Names in the domain never leave the agent.
	query(t, addr, "udp", "nosuch.skiff.", dns.TypeA)
	if queries() != 1 {
		t.Fatalf("a name in the domain was forwarded")
	}
}

func TestForwardingWithoutUpstreamIsServfail(t *testing.T) {
	_, addr := serve(t, cluster(), Config{})
	if a := query(t, addr, "udp", "example.org.", dns.TypeA); a.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[a.Rcode])
	}
}

func TestHostResolvers(t *testing.T) {
	path := t.TempDir() + "/resolv.conf"
	if err := writeFile(path, "nameserver 10.255.255.53\nnameserver fd00::53\noptions ndots:1\n"); err != nil {
		t.Fatal(err)
	}
	got, err := HostResolvers(path)
	if err != nil || !slices.Equal(got, []string{"10.255.255.53:53", "[fd00::53]:53"}) {
		t.Fatalf("HostResolvers = %q, %v", got, err)
	}
	if _, err := HostResolvers(path + ".missing"); err == nil {
		t.Fatal("a missing file: want an error")
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

// TestLoadBalancedServiceAnswersWithTheLocalIngress: a service with
// loadBalancers is reached through the local agent's listeners, while it
// has a healthy task; an agent without an ingress answers with the tasks.
func TestLoadBalancedServiceAnswersWithTheLocalIngress(t *testing.T) {
	st := cluster()
	st.services = append(st.services, &structs.Service{Name: "front", LoadBalancers: []structs.LoadBalancer{
		{ContainerName: "app", ContainerPort: 8080, ListenerPort: 80}, {ContainerName: "app", ContainerPort: 8080, ListenerPort: 80, PathPrefix: "/api"},
		{ContainerName: "app", ContainerPort: 8080, ListenerPort: 8443, Protocol: structs.ProtocolTCP}}})
	st.defs["front:1"] = st.defs["web:1"]
	st.tasks = append(st.tasks, task("0196-frt-a", "front", "n2", "healthy", 22000))
	_, addr := serve(t, st, Config{IngressIP: net.ParseIP("10.0.0.9"), NodeName: "pi-9"})
	if a := query(t, addr, "udp", "front.skiff.", dns.TypeA); records(a.Answer) != "front.skiff. IN A 10.0.0.9" {
		t.Fatalf("A front:\n%s", records(a.Answer))
	}
	if got, want := records(query(t, addr, "udp", "front.skiff.", dns.TypeSRV).Answer),
		"front.skiff. IN SRV 1 1 80 pi-9.node.skiff.\nfront.skiff. IN SRV 1 1 8443 pi-9.node.skiff."; got != want {
		t.Fatalf("SRV front:\n%s\nwant:\n%s", got, want)
	}
	// Services without loadBalancers still point at their tasks.
	if a := query(t, addr, "udp", "web.skiff.", dns.TypeA); records(a.Answer) != "web.skiff. IN A 10.0.0.1" {
		t.Fatalf("A web:\n%s", records(a.Answer))
	}
	_, plain := serve(t, st, Config{})
	if got := records(query(t, plain, "udp", "front.skiff.", dns.TypeSRV).Answer); got != "front.skiff. IN SRV 1 1 22000 pi-2.node.skiff." {
		t.Fatalf("SRV front from an agent without an ingress:\n%s", got)
	}
	st.mu.Lock()
	sick := *st.tasks[len(st.tasks)-1]
	sick.Containers = []structs.ContainerState{{Name: "app", Status: "running", Health: "unhealthy"}}
	st.tasks[len(st.tasks)-1] = &sick
	st.mu.Unlock()
	if a := query(t, addr, "udp", "front.skiff.", dns.TypeA); a.Rcode != dns.RcodeSuccess || len(a.Answer) != 0 {
		t.Fatalf("front without a healthy task: rcode %s, answer:\n%s", dns.RcodeToString[a.Rcode], records(a.Answer))
	}
}
