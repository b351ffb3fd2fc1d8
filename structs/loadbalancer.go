package structs

import (
	"fmt"
	"slices"
	"strings"
)

// Ingress protocols and balancing choices of a service's load balancer.
const (
	// ProtocolHTTP proxies HTTP requests, routed by Host and path, and
	// tells the task the client's address in X-Forwarded-For, Forwarded
	// and X-Forwarded-Proto.
	ProtocolHTTP = "http"
	// ProtocolTCP splices TCP connections, and may tell the task the
	// client's address in a PROXY protocol v2 header.
	ProtocolTCP = "tcp"

	BalanceRoundRobin       = "roundRobin"
	BalanceLeastConnections = "leastConnections"
)

// LoadBalancer is one entry of a service's loadBalancers, in ECS's shape:
// a container port of the service's tasks that every agent serves on
// ListenerPort, proxying to the service's healthy tasks wherever they run.
// Protocol, Hostnames, PathPrefix, ProxyProtocol and Balancing are skiff's.
type LoadBalancer struct {
	ContainerName string `json:"containerName"`
	ContainerPort int    `json:"containerPort"`
	ListenerPort  int    `json:"listenerPort"`
	// Protocol is ProtocolHTTP or ProtocolTCP; empty means http.
	Protocol string `json:"protocol,omitempty"`
	// Hostnames and PathPrefix route an http listener's requests: a
	// request goes to the entry whose hostnames hold its Host (an entry
	// without hostnames takes every host no other entry names) and whose
	// path prefix is the longest that matches it, a whole path segment at
	// a time. Hostnames are kept in lower case.
	Hostnames  []string `json:"hostnames,omitempty"`
	PathPrefix string   `json:"pathPrefix,omitempty"`
	// ProxyProtocol sends a tcp listener's tasks a PROXY protocol v2
	// header with the client's address before the client's bytes.
	ProxyProtocol bool `json:"proxyProtocol,omitempty"`
	// Balancing is BalanceRoundRobin (the default, when empty) or
	// BalanceLeastConnections.
	Balancing string `json:"balancing,omitempty"`
}

// ListenerProtocol is the entry's protocol, http when it names none.
func (lb *LoadBalancer) ListenerProtocol() string {
	if lb.Protocol == "" {
		return ProtocolHTTP
	}
	return lb.Protocol
}

// Path is the entry's path prefix, "/" when it names none.
func (lb *LoadBalancer) Path() string {
	if lb.PathPrefix == "" {
		return "/"
	}
	return lb.PathPrefix
}

// Conflict says why two entries cannot share a listener, or returns ""
// when they can: they listen on different ports, or both are http and
// differ in path prefix or in hostnames (an entry without hostnames takes
// the hosts the other does not name, so it does not clash with one that
// names some).
func (lb *LoadBalancer) Conflict(other *LoadBalancer) string {
	if lb.ListenerPort != other.ListenerPort {
		return ""
	}
	p, q := lb.ListenerProtocol(), other.ListenerProtocol()
	switch {
	case p != q:
		return fmt.Sprintf("listener port %d is already a %s listener, and one port is either http or tcp", lb.ListenerPort, q)
	case p == ProtocolTCP:
		return fmt.Sprintf("listener port %d is already a tcp listener, which takes one service", lb.ListenerPort)
	case lb.Path() != other.Path():
		return ""
	case len(lb.Hostnames) == 0 && len(other.Hostnames) == 0:
		return fmt.Sprintf("listener port %d already routes path prefix %s of every host; give hostnames or another pathPrefix", lb.ListenerPort, lb.Path())
	}
	for _, h := range lb.Hostnames {
		if slices.Contains(other.Hostnames, h) {
			return fmt.Sprintf("listener port %d already routes host %s with path prefix %s; give other hostnames or another pathPrefix", lb.ListenerPort, h, lb.Path())
		}
	}
	return ""
}

// ListenerConflict finds the first entry of lbs, a service's load
// balancers, that cannot share its listener with another entry of lbs or
// with an entry of a service in others other than the service itself. It
// returns the entry's index and why, or -1 and "".
func ListenerConflict(service string, lbs []LoadBalancer, others []*Service) (int, string) {
	for i := range lbs {
		for j := range lbs[:i] {
			if why := lbs[i].Conflict(&lbs[j]); why != "" {
				return i, why + " (by loadBalancers[" + fmt.Sprint(j) + "] of this service)"
			}
		}
		for _, s := range others {
			if s.Name == service {
				continue
			}
			for j := range s.LoadBalancers {
				if why := lbs[i].Conflict(&s.LoadBalancers[j]); why != "" {
					return i, why + " (by service " + s.Name + ")"
				}
			}
		}
	}
	return -1, ""
}

// LoadBalancerTarget checks that the container an entry names is one of
// td's and maps the entry's container port over tcp, and returns the
// field (containerName or containerPort) at fault and why, or "" and "".
func LoadBalancerTarget(lb *LoadBalancer, td *TaskDefinition) (field, why string) {
	for i := range td.ContainerDefinitions {
		cd := &td.ContainerDefinitions[i]
		if cd.Name != lb.ContainerName {
			continue
		}
		for _, pm := range cd.PortMappings {
			if pm.ContainerPort == lb.ContainerPort && pm.Protocol != "udp" {
				return "", ""
			}
		}
		return "containerPort", fmt.Sprintf("%d is not a tcp port mapping of container %q in task definition %s; add it to the container's portMappings",
			lb.ContainerPort, lb.ContainerName, td.Ref())
	}
	names := make([]string, len(td.ContainerDefinitions))
	for i := range td.ContainerDefinitions {
		names[i] = td.ContainerDefinitions[i].Name
	}
	return "containerName", fmt.Sprintf("%q is not a container of task definition %s (it has %s)", lb.ContainerName, td.Ref(), strings.Join(names, ", "))
}

// ListenerPorts maps each listener port of services to the service that
// listens on it, the first by name when several http services share it.
// Every agent listens on all of them, whatever its pool, so no task may
// take one as a host port on any node.
func ListenerPorts(services []*Service) map[int]string {
	out := map[int]string{}
	for _, s := range services {
		for i := range s.LoadBalancers {
			p := s.LoadBalancers[i].ListenerPort
			if have, ok := out[p]; !ok || s.Name < have {
				out[p] = s.Name
			}
		}
	}
	return out
}

// StaticHostPort is a tcp host port that a definition's tasks take on
// whichever node they run, with the container that maps it and the field
// of the definition that names it.
type StaticHostPort struct {
	Port      int
	Container string
	Field     string
}

// StaticTCPHostPorts lists the tcp host ports t's tasks take on whichever
// node they run: the hostPort of each mapping that names one, and in host
// network mode each containerPort. A udp mapping cannot meet a listener,
// which is tcp.
func (t *TaskDefinition) StaticTCPHostPorts() []StaticHostPort {
	var out []StaticHostPort
	for i := range t.ContainerDefinitions {
		name := t.ContainerDefinitions[i].Name
		for j, pm := range t.ContainerDefinitions[i].PortMappings {
			if pm.Protocol == "udp" {
				continue
			}
			field := fmt.Sprintf("containerDefinitions[%d].portMappings[%d].", i, j)
			switch {
			case t.NetworkMode == NetworkHost:
				out = append(out, StaticHostPort{Port: pm.ContainerPort, Container: name, Field: field + "containerPort"})
			case pm.HostPort != 0:
				out = append(out, StaticHostPort{Port: pm.HostPort, Container: name, Field: field + "hostPort"})
			}
		}
	}
	return out
}

// ReservedPortConflict checks service s, whose tasks run td, against the
// listener ports every agent holds: a static host port of td must not be a
// listener port of any service (s's own included), and a listener port of
// s must not be a static host port of another service's definition, which
// def returns by reference (nil when it has none). It returns the field at
// fault, "loadBalancers[i].listenerPort" or a field of td under tdField,
// and why; or "" and "". others may hold an older version of s, which is
// skipped.
func ReservedPortConflict(s *Service, td *TaskDefinition, tdField string, others []*Service, def func(ref string) *TaskDefinition) (field, why string) {
	listeners := ListenerPorts(append([]*Service{s}, slices.DeleteFunc(slices.Clone(others), func(o *Service) bool { return o.Name == s.Name })...))
	if td != nil {
		for _, hp := range td.StaticTCPHostPorts() {
			if owner, ok := listeners[hp.Port]; ok {
				hint := "choose another host port, or 0 for a dynamic one"
				if td.NetworkMode == NetworkHost {
					hint = "in host network mode the container listens on the host's port itself; choose another"
				}
				return tdField + "." + hp.Field, fmt.Sprintf("host port %d is the listener port of service %s's load balancer, which every agent listens on; %s", hp.Port, owner, hint)
			}
		}
	}
	for i := range s.LoadBalancers {
		port := s.LoadBalancers[i].ListenerPort
		for _, o := range others {
			if o.Name == s.Name {
				continue
			}
			otd := def(o.TaskDefinition)
			if otd == nil {
				continue
			}
			for _, hp := range otd.StaticTCPHostPorts() {
				if hp.Port == port {
					return fmt.Sprintf("loadBalancers[%d].listenerPort", i), fmt.Sprintf("port %d is a static host port of service %s (%s of task definition %s), which its tasks take on their nodes, and every agent would listen on it; choose another listener port",
						port, o.Name, hp.Field, otd.Ref())
				}
			}
		}
	}
	return "", ""
}
