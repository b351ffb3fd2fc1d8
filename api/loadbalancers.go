package api

import (
	"fmt"
	"strings"

	"github.com/skiff-run/skiff/structs"
)

// Bounds of a service's loadBalancers. ECS takes up to five target groups
// per service.
const (
	MaxLoadBalancers = 5
	MaxHostnames     = 20
	maxPathPrefix    = 1024
)

// loadBalancerShape is a loadBalancers entry. targetGroupArn and
// loadBalancerName name AWS load balancers, which skiff replaces with its
// own listeners.
var loadBalancerShape = &shape{
	acted: map[string]*shape{"containerName": nil, "containerPort": nil, "listenerPort": nil, "protocol": nil,
		"hostnames": nil, "pathPrefix": nil, "proxyProtocol": nil, "balancing": nil},
	ignored:  []string{"targetGroupArn", "loadBalancerName"},
	maxItems: MaxLoadBalancers, items: "load balancers",
}

// checkLoadBalancers checks a service file's loadBalancers against each
// other and, when the file carries its definition inline, against td; a
// registered definition is checked by checkLoadBalancerTargets. It folds
// hostnames to lower case and drops a path prefix's trailing slash, so that
// two entries that route the same requests compare equal.
func checkLoadBalancers(lbs []structs.LoadBalancer, td *structs.TaskDefinition) error {
	if len(lbs) > MaxLoadBalancers {
		return fieldErr("loadBalancers", "at most %d load balancers", MaxLoadBalancers)
	}
	for i := range lbs {
		lb := &lbs[i]
		p := fmt.Sprintf("loadBalancers[%d]", i)
		if err := checkName(p+".containerName", lb.ContainerName); err != nil {
			return err
		}
		if lb.ContainerPort < 1 || lb.ContainerPort > 65535 {
			return fieldErr(p+".containerPort", "%d is out of range: expected 1 to 65535", lb.ContainerPort)
		}
		if lb.ListenerPort < 1 || lb.ListenerPort > 65535 {
			return fieldErr(p+".listenerPort", "%d is out of range: expected 1 to 65535, the port every agent listens on for this service", lb.ListenerPort)
		}
		switch lb.Balancing {
		case "", structs.BalanceRoundRobin, structs.BalanceLeastConnections:
		default:
			return fieldErr(p+".balancing", "%q: expected %s (the default) or %s", lb.Balancing, structs.BalanceRoundRobin, structs.BalanceLeastConnections)
		}
		switch lb.Protocol {
		case "", structs.ProtocolHTTP:
			if lb.ProxyProtocol {
				return fieldErr(p+".proxyProtocol", "taken by protocol tcp only; an http listener tells the task the client's address in X-Forwarded-For and Forwarded")
			}
			if err := checkRoute(p, lb); err != nil {
				return err
			}
		case structs.ProtocolTCP:
			if len(lb.Hostnames) > 0 {
				return fieldErr(p+".hostnames", "taken by protocol http only: a tcp listener cannot see a host name")
			}
			if lb.PathPrefix != "" {
				return fieldErr(p+".pathPrefix", "taken by protocol http only: a tcp listener cannot see a path")
			}
		default:
			return fieldErr(p+".protocol", "%q: expected http (the default) or tcp", lb.Protocol)
		}
		if td != nil {
			if field, why := structs.LoadBalancerTarget(lb, td); field != "" {
				return fieldErr(p+"."+field, "%s", why)
			}
		}
	}
	if i, why := structs.ListenerConflict("", lbs, nil); i >= 0 {
		return fieldErr(fmt.Sprintf("loadBalancers[%d].listenerPort", i), "%s", why)
	}
	return nil
}

// checkRoute checks and folds an http entry's hostnames and path prefix.
func checkRoute(p string, lb *structs.LoadBalancer) error {
	if len(lb.Hostnames) > MaxHostnames {
		return fieldErr(p+".hostnames", "at most %d host names", MaxHostnames)
	}
	for j, h := range lb.Hostnames {
		h = strings.ToLower(h)
		if len(h) > maxDomainLen || !hostnameRE.MatchString(h) {
			return fieldErr(fmt.Sprintf("%s.hostnames[%d]", p, j), "%q: expected a host name such as app.example.com, without port or scheme", lb.Hostnames[j])
		}
		lb.Hostnames[j] = h
	}
	for j, h := range lb.Hostnames {
		for _, other := range lb.Hostnames[:j] {
			if h == other {
				return fieldErr(fmt.Sprintf("%s.hostnames[%d]", p, j), "%q is named twice", h)
			}
		}
	}
	if pp := lb.PathPrefix; pp != "" {
		if !strings.HasPrefix(pp, "/") || len(pp) > maxPathPrefix || strings.ContainsAny(pp, "?# \t\r\n") {
			return fieldErr(p+".pathPrefix", "%q: expected a URL path such as /api, starting with / and without query, fragment or spaces", pp)
		}
		lb.PathPrefix = strings.TrimRight(pp, "/")
	}
	return nil
}

// checkLoadBalancerTargets checks a service's loadBalancers against the
// definition it runs and against the other services' listeners in st. The
// leader's state machine decides again when it applies the service, since
// another service may take a listener in between.
func checkLoadBalancerTargets(st State, svc *structs.Service, td *structs.TaskDefinition) error {
	for i := range svc.LoadBalancers {
		if field, why := structs.LoadBalancerTarget(&svc.LoadBalancers[i], td); field != "" {
			return fieldErr(fmt.Sprintf("loadBalancers[%d].%s", i, field), "%s", why)
		}
	}
	if len(svc.LoadBalancers) == 0 {
		return nil
	}
	if i, why := structs.ListenerConflict(svc.Name, svc.LoadBalancers, st.Services()); i >= 0 {
		return &statusError{status: 409, FieldError: FieldError{Field: fmt.Sprintf("loadBalancers[%d].listenerPort", i), Message: why}}
	}
	return nil
}

// checkReservedPorts refuses a service whose definition, td (named
// tdField in the request), takes a listener port of st's services as a
// static host port, or whose listener port another service's definition
// takes as one. The leader's state machine decides again when it applies
// the service.
func checkReservedPorts(st State, svc *structs.Service, td *structs.TaskDefinition, tdField string) error {
	if field, why := structs.ReservedPortConflict(svc, td, tdField, st.Services(), func(ref string) *structs.TaskDefinition { return registered(st, ref) }); field != "" {
		return &statusError{status: 409, FieldError: FieldError{Field: field, Message: why}}
	}
	return nil
}
