// Package ingress is every agent's built-in load balancer: it listens on
// each listener port that a service's loadBalancers name and proxies to the
// service's healthy tasks wherever they run. http listeners route by Host
// and path prefix, several services to a port, and tell the task the
// client's address in X-Forwarded-For, X-Forwarded-Proto and Forwarded;
// tcp listeners splice connections and may send a PROXY protocol v2
// header. The client's address is never hidden behind a source NAT: the
// task sees the proxy as its peer and the client in the headers.
package ingress

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-run/skiff/endpoints"
	"github.com/skiff-run/skiff/structs"
)

// View is the part of a state view the ingress reads; the replica's read
// view (*fsm.State) implements it.
type View interface {
	endpoints.View
	Services() []*structs.Service
}

// Listener is what one listener port serves: a tcp service, or the routes
// of one or more http services.
type Listener struct {
	Port     int
	Protocol string
	Routes   []Route
}

// Route is one loadBalancers entry of one service and the addresses of the
// service's healthy tasks on the entry's container port.
type Route struct {
	Service       string
	Hostnames     []string
	PathPrefix    string
	ProxyProtocol bool
	Balancing     string
	Backends      []Target
}

// Target is one task's host address and port, as "host:port".
type Target struct {
	Task string
	Addr string
}

// Plan returns the listeners a state asks for, by port, and the earliest
// time after now at which the passing of time alone would change them (a
// task becoming healthy); the zero time when nothing would. Two services
// that the state machine let onto one listener agree on its protocol; if a
// state held a clash anyway, the service whose name sorts first keeps the
// port, so that every agent serves the same.
func Plan(v View, now time.Time) (map[int]*Listener, time.Time) {
	out := map[int]*Listener{}
	var until time.Time
	services := v.Services()
	slices.SortFunc(services, func(a, b *structs.Service) int { return strings.Compare(a.Name, b.Name) })
	for _, s := range services {
		if len(s.LoadBalancers) == 0 {
			continue
		}
		eps, at := endpoints.Until(v, s.Name, now)
		if !at.IsZero() && (until.IsZero() || at.Before(until)) {
			until = at
		}
		for i := range s.LoadBalancers {
			lb := &s.LoadBalancers[i]
			l := out[lb.ListenerPort]
			if l == nil {
				l = &Listener{Port: lb.ListenerPort, Protocol: lb.ListenerProtocol()}
				out[lb.ListenerPort] = l
			}
			if l.Protocol != lb.ListenerProtocol() || l.Protocol == structs.ProtocolTCP && len(l.Routes) > 0 {
				continue
			}
			r := Route{Service: s.Name, Hostnames: lb.Hostnames, PathPrefix: lb.PathPrefix, ProxyProtocol: lb.ProxyProtocol,
				Balancing: lb.Balancing}
			for _, e := range eps {
				if e.Healthy && e.ContainerName == lb.ContainerName && e.ContainerPort == lb.ContainerPort && e.Protocol == "tcp" {
					r.Backends = append(r.Backends, Target{Task: e.TaskID, Addr: net.JoinHostPort(hostOf(e.Address), strconv.Itoa(e.HostPort))})
				}
			}
			l.Routes = append(l.Routes, r)
		}
	}
	return out, until
}

// hostOf is the host part of a node's address, which may carry the port
// of its Raft listener.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
