// Package dnsserver is the DNS server every agent runs. It answers names in
// the cluster's domain (skiff. by default) from the local replica:
//
//	<service>.skiff.         A/AAAA of the nodes of the service's healthy tasks, SRV of their host ports
//	<task-id>.task.skiff.    A/AAAA of the task's node, SRV of its host ports
//	<node-name>.node.skiff.  A/AAAA of the node
//
// Other names in the domain get NXDOMAIN, and names outside it are
// forwarded to the host's own resolvers. Answers are computed per query
// from a fresh read view, so a task that fails its health check, is asked
// to stop or loses its node leaves the answers as soon as the replica
// applies the change.
package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/skiff-run/skiff/endpoints"
	"github.com/skiff-run/skiff/structs"
)

// DefaultDomain is the domain the server answers for when Config names
// none.
const DefaultDomain = "skiff."

// DefaultTTL is the TTL of every answer from the replica, in seconds: short,
// since a task's health can change at any moment and answers follow it.
const DefaultTTL = 2

// State is the part of a replica's read view that answers are drawn from;
// *fsm.State implements it.
type State interface {
	endpoints.View
	Services() []*structs.Service
	Task(id string) *structs.Task
	Nodes() []*structs.Node
}

// Config configures a Server.
type Config struct {
	// Domain is the cluster's domain, DefaultDomain when empty.
	Domain string
	// TTL is the answers' TTL in seconds, DefaultTTL when zero.
	TTL uint32
	// State returns a fresh read view of the local replica; it is called
	// once per query, from the query's goroutine.
	State func() State
	// Upstreams are the resolvers names outside the domain are forwarded
	// to, as host:port, tried in order. Empty forwards nothing: such
	// names get SERVFAIL.
	Upstreams []string
	// IngressIP is the address the local agent's ingress listens on, nil
	// when it runs none. A service with loadBalancers then answers with
	// it and its listener ports, so that clients go through the local
	// proxy; NodeName names the local node in those SRV records.
	IngressIP net.IP
	NodeName  string
	// Now is the clock health is judged by; time.Now when nil.
	Now func() time.Time
	// Logger receives the server's warnings; nil discards them.
	Logger *slog.Logger
}

// Server answers DNS queries over UDP and TCP on any number of addresses.
// ServeDNS may be called from many goroutines at once; Listen and Close
// may be called from any goroutine.
type Server struct {
	cfg    Config
	domain string
	udp    *dns.Client
	tcp    *dns.Client

	mu      sync.Mutex
	servers []*dns.Server // guarded by mu
	closed  bool          // guarded by mu
}

// New returns a server; Listen makes it answer on an address.
func New(cfg Config) *Server {
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, domain: dns.CanonicalName(cfg.Domain),
		udp: &dns.Client{Net: "udp", Timeout: 2 * time.Second}, tcp: &dns.Client{Net: "tcp", Timeout: 2 * time.Second}}
}

// Domain is the domain the server answers for, fully qualified and in
// lower case.
func (s *Server) Domain() string { return s.domain }

// Upstreams are the resolvers the server forwards to.
func (s *Server) Upstreams() []string { return slices.Clone(s.cfg.Upstreams) }

// anyPortTries is how many UDP ports Listen tries for a port 0 address
// before it gives up finding one whose TCP twin is free too.
const anyPortTries = 10

// Listen starts answering on addr (host:port, port 0 for any) over UDP and
// TCP and returns the address it bound, which is the same for both. It
// returns once both listen.
func (s *Server) Listen(addr string) (string, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("dns: listen address %q: %w", addr, err)
	}
	tries := 1
	if port == "0" {
		tries = anyPortTries
	}
	var pc net.PacketConn
	var ln net.Listener
	var bound string
	for i := 0; i < tries; i++ {
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			return "", fmt.Errorf("dns: listen on udp %s: %w", addr, err)
		}
		bound = pc.LocalAddr().String()
		if ln, err = net.Listen("tcp", bound); err == nil {
			break
		}
		// The UDP port the system chose is taken over TCP: try another.
		pc.Close()
	}
	if err != nil {
		return "", fmt.Errorf("dns: listen on tcp %s: %w", bound, err)
	}
	us := &dns.Server{PacketConn: pc, Handler: s}
	ts := &dns.Server{Listener: ln, Handler: s}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		pc.Close()
		ln.Close()
		return "", errors.New("dns: server closed")
	}
	s.servers = append(s.servers, us, ts)
	s.mu.Unlock()
	for _, srv := range []*dns.Server{us, ts} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				s.cfg.Logger.Warn("dns server stopped", "addr", bound, "err", err)
			}
		}()
		<-started
	}
	return bound, nil
}

// Close stops answering on every address.
func (s *Server) Close() error {
	s.mu.Lock()
	servers := s.servers
	s.servers, s.closed = nil, true
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		errs = append(errs, srv.Shutdown())
	}
	return errors.Join(errs...)
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	var resp *dns.Msg
	switch {
	case len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery:
		resp = new(dns.Msg)
		resp.SetRcode(req, dns.RcodeFormatError)
	case dns.IsSubDomain(s.domain, dns.CanonicalName(req.Question[0].Name)):
		resp = s.answer(req)
	default:
		resp = s.forward(req, w.LocalAddr().Network())
	}
	if w.LocalAddr().Network() == "udp" {
		resp.Truncate(udpSize(req))
	}
	if err := w.WriteMsg(resp); err != nil {
		s.cfg.Logger.Debug("dns: write answer", "err", err)
	}
}

// udpSize is the largest answer the client takes over UDP.
func udpSize(req *dns.Msg) int {
	if opt := req.IsEdns0(); opt != nil {
		return int(max(opt.UDPSize(), dns.MinMsgSize))
	}
	return dns.MinMsgSize
}

// forward passes a query for a name outside the domain to the upstream
// resolvers, in order, over the protocol the query came by, and returns
// the first answer. A truncated UDP answer is asked again over TCP.
func (s *Server) forward(req *dns.Msg, network string) *dns.Msg {
	c := s.udp
	if network == "tcp" {
		c = s.tcp
	}
	for _, up := range s.cfg.Upstreams {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		resp, _, err := c.ExchangeContext(ctx, req, up)
		if err == nil && resp.Truncated && c == s.udp {
			resp, _, err = s.tcp.ExchangeContext(ctx, req, up)
		}
		cancel()
		if err == nil {
			resp.Id = req.Id
			return resp
		}
		s.cfg.Logger.Debug("dns: upstream failed", "upstream", up, "name", req.Question[0].Name, "err", err)
	}
	resp := new(dns.Msg)
	resp.SetRcode(req, dns.RcodeServerFailure)
	return resp
}

// answer answers a query for a name in the domain from a fresh view.
func (s *Server) answer(req *dns.Msg) *dns.Msg {
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = len(s.cfg.Upstreams) > 0
	rel := strings.TrimSuffix(strings.TrimSuffix(name, s.domain), ".")
	var targets []target
	found := true
	switch labels := dns.SplitDomainName(rel); {
	case rel == "":
		// The domain itself: it exists, and holds only its SOA.
		if q.Qtype == dns.TypeSOA {
			resp.Answer = append(resp.Answer, s.soa())
		}
	case len(labels) == 1:
		targets, found = s.serviceTargets(labels[0])
	case len(labels) == 2 && labels[1] == "task":
		targets, found = s.taskTargets(labels[0])
	case len(labels) == 2 && labels[1] == "node":
		targets, found = s.nodeTargets(labels[0])
	default:
		found = false
	}
	if !found {
		resp.Rcode = dns.RcodeNameError
	}
	s.addRecords(resp, name, q.Qtype, targets)
	if len(resp.Answer) == 0 {
		// NXDOMAIN, or a name with no record of the type asked: the SOA
		// tells resolvers how long to remember that.
		resp.Ns = append(resp.Ns, s.soa())
	}
	return resp
}

// target is a place a name points at: a node's IP and name and, for SRV,
// a host port (0 when there is none).
type target struct {
	ip       net.IP
	nodeName string
	port     int
}

// serviceTargets are the healthy endpoints of the service label names;
// found is false when there is no such service. A service whose tasks
// have no port mappings points at the nodes of its healthy tasks, and one
// with loadBalancers, while it has a healthy task, at the local ingress.
func (s *Server) serviceTargets(label string) (out []target, found bool) {
	st := s.cfg.State()
	svc := lookupService(st, label)
	if svc == nil {
		return nil, false
	}
	now := s.cfg.Now()
	for _, e := range endpoints.Of(st, svc.Name, now) {
		if e.Healthy {
			out = append(out, target{ip: net.ParseIP(e.Address), nodeName: e.NodeName, port: e.HostPort})
		}
	}
	if len(svc.LoadBalancers) > 0 && s.cfg.IngressIP != nil {
		if len(out) == 0 {
			return nil, true
		}
		out = out[:0]
		for _, lb := range svc.LoadBalancers {
			if !slices.ContainsFunc(out, func(t target) bool { return t.port == lb.ListenerPort }) {
				out = append(out, target{ip: s.cfg.IngressIP, nodeName: s.cfg.NodeName, port: lb.ListenerPort})
			}
		}
		return out, true
	}
	for _, t := range st.TasksByService(svc.Name) {
		if len(t.HostPorts) > 0 || !endpoints.Serving(st, t) {
			continue
		}
		td := st.TaskDefinition(t.TaskDefinition)
		if td == nil {
			continue
		}
		if ok, _ := endpoints.Healthy(t, td, endpoints.DefaultHealthyAfter, now); ok {
			n := st.Node(t.Node)
			out = append(out, target{ip: net.ParseIP(endpoints.Host(n)), nodeName: n.Name})
		}
	}
	return out, true
}

// lookupService finds a service by a DNS label, which resolvers may send
// in any case.
func lookupService(st State, label string) *structs.Service {
	if svc := st.Service(label); svc != nil {
		return svc
	}
	for _, svc := range st.Services() {
		if strings.EqualFold(svc.Name, label) {
			return svc
		}
	}
	return nil
}

// taskTargets are the node and host ports of the task with the id label,
// while it serves: it runs, nobody asked it to stop and its node is up.
func (s *Server) taskTargets(label string) ([]target, bool) {
	st := s.cfg.State()
	t := st.Task(strings.ToLower(label))
	if t == nil || !endpoints.Serving(st, t) {
		return nil, false
	}
	n := st.Node(t.Node)
	ip := net.ParseIP(endpoints.Host(n))
	if len(t.HostPorts) == 0 {
		return []target{{ip: ip, nodeName: n.Name}}, true
	}
	out := make([]target, len(t.HostPorts))
	for i, p := range t.HostPorts {
		out[i] = target{ip: ip, nodeName: n.Name, port: p}
	}
	return out, true
}

// nodeTargets is the node named label, unless it is down.
func (s *Server) nodeTargets(label string) ([]target, bool) {
	for _, n := range s.cfg.State().Nodes() {
		if strings.EqualFold(n.Name, label) && n.Status != structs.NodeDown {
			return []target{{ip: net.ParseIP(endpoints.Host(n)), nodeName: n.Name}}, true
		}
	}
	return nil, false
}

// addRecords answers qtype for name from targets: A and AAAA records of
// their distinct IPs, and SRV records of their ports, each naming its
// node's name in the domain, whose address goes in the additional section.
func (s *Server) addRecords(resp *dns.Msg, name string, qtype uint16, targets []target) {
	seen := map[string]bool{}
	for _, t := range targets {
		if t.ip == nil {
			continue
		}
		if qtype == dns.TypeSRV || qtype == dns.TypeANY {
			if t.port > 0 {
				node := s.nodeName(t.nodeName)
				resp.Answer = append(resp.Answer, &dns.SRV{Hdr: s.header(name, dns.TypeSRV), Priority: 1, Weight: 1, Port: uint16(t.port), Target: node})
				if !seen["extra "+node] {
					seen["extra "+node] = true
					if rr := s.address(node, t.ip); rr != nil {
						resp.Extra = append(resp.Extra, rr)
					}
				}
			}
			if qtype == dns.TypeSRV {
				continue
			}
		}
		if seen[t.ip.String()] {
			continue
		}
		if rr := s.address(name, t.ip); rr != nil && (qtype == dns.TypeANY || rr.Header().Rrtype == qtype) {
			seen[t.ip.String()] = true
			resp.Answer = append(resp.Answer, rr)
		}
	}
}

// nodeName is the name of a node in the domain. A node name that is not a
// DNS label cannot be one, so the SRV record points at nothing resolvable
// but still carries the port.
func (s *Server) nodeName(name string) string {
	return dns.CanonicalName(name + ".node." + s.domain)
}

// address is the A or AAAA record of ip under name.
func (s *Server) address(name string, ip net.IP) dns.RR {
	if v4 := ip.To4(); v4 != nil {
		return &dns.A{Hdr: s.header(name, dns.TypeA), A: v4}
	}
	return &dns.AAAA{Hdr: s.header(name, dns.TypeAAAA), AAAA: ip}
}

func (s *Server) header(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: s.cfg.TTL}
}

// soa is the domain's SOA record; its minimum, the TTL of negative
// answers, is as short as the answers' own.
func (s *Server) soa() dns.RR {
	return &dns.SOA{Hdr: s.header(s.domain, dns.TypeSOA), Ns: "ns." + s.domain, Mbox: "hostmaster." + s.domain,
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: s.cfg.TTL}
}

// HostResolvers reads the resolvers of a resolv.conf file (normally
// /etc/resolv.conf) as host:port.
func HostResolvers(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("dns: read resolvers from %s: %w", path, err)
	}
	out := make([]string, len(cc.Servers))
	for i, srv := range cc.Servers {
		out[i] = net.JoinHostPort(srv, cc.Port)
	}
	return out, nil
}
