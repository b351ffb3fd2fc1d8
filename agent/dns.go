package agent

import (
	"context"
	"errors"
	"net"
	"slices"
	"time"

	"github.com/skiff-run/skiff/dnsserver"
	"github.com/skiff-run/skiff/runtime"
)

// containerDNSPort is the port containers' resolvers are asked on: the
// engine takes resolvers as bare IPs.
const containerDNSPort = "53"

// hostResolvConf is where the host's own resolvers are read from.
const hostResolvConf = "/etc/resolv.conf"

// startDNS starts the agent's DNS server on DNSAddr and, with
// DNSForContainers, on port 53 of the runtime's gateway, and returns the
// resolvers the node's containers get: the gateway, or none when the agent
// does not serve them. Failing to listen on DNSAddr, which the operator
// asked for, stops the agent; failing to serve containers only leaves
// them with the engine's resolvers, and says why.
func (a *Agent) startDNS(ip string) ([]string, error) {
	cfg := a.cfg
	if cfg.DNSAddr == "" && !cfg.DNSForContainers {
		return nil, nil
	}
	upstreams := cfg.DNSResolvers
	if upstreams == nil {
		var err error
		if upstreams, err = dnsserver.HostResolvers(hostResolvConf); err != nil {
			a.log.Warn("names outside the cluster's domain will not resolve through the agent", "err", err)
		}
	}
	a.dns = dnsserver.New(dnsserver.Config{Domain: cfg.DNSDomain, State: func() dnsserver.State { return a.fsm.State() },
		Upstreams: upstreams, IngressIP: ingressIP(cfg, ip), NodeName: cfg.Name, Logger: a.log})
	var listening []string
	if cfg.DNSAddr != "" {
		addr, err := a.dns.Listen(cfg.DNSAddr)
		if err != nil {
			a.dns.Close()
			return nil, err
		}
		a.dnsAddr = addr
		listening = append(listening, addr)
	}
	var containers []string
	if cfg.DNSForContainers {
		if gw, err := a.gatewayDNS(); err != nil {
			a.log.Warn("containers keep the engine's resolvers: the agent cannot serve DNS on the address they reach the host on", "err", err)
		} else {
			listening = append(listening, net.JoinHostPort(gw, containerDNSPort))
			containers = []string{gw}
		}
	}
	a.log.Info("dns started", "domain", a.dns.Domain(), "listen", listening, "forwardTo", upstreams)
	return containers, nil
}

// ingressIP is the address the agent's ingress listeners are reached on:
// their bind IP, or the node's own IP when they listen on every address;
// nil without an ingress.
func ingressIP(cfg Config, nodeIP string) net.IP {
	if cfg.NoIngress {
		return nil
	}
	bind := net.ParseIP(cfg.IngressBind)
	if bind == nil || bind.IsUnspecified() {
		return net.ParseIP(nodeIP)
	}
	return bind
}

// gatewayDNS listens on port 53 of the runtime's gateway and returns the
// gateway.
func (a *Agent) gatewayDNS() (string, error) {
	gwr, ok := a.rt.(runtime.Gateway)
	if !ok {
		return "", errNoGateway
	}
	// An engine that does not answer soon leaves the containers with its
	// own resolvers, and the agent says so, rather than hold its start.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gw, err := gwr.Gateway(ctx)
	if err != nil {
		return "", err
	}
	if slices.Contains(a.dns.Upstreams(), net.JoinHostPort(gw, containerDNSPort)) {
		return "", errLoop
	}
	if _, err := a.dns.Listen(net.JoinHostPort(gw, containerDNSPort)); err != nil {
		return "", err
	}
	return gw, nil
}

// DNSAddr is the address the DNS server listens on for people and tools,
// "" when it listens there on nothing.
func (a *Agent) DNSAddr() string { return a.dnsAddr }

var (
	errNoGateway = errors.New("the runtime has no address its containers reach the host on")
	errLoop      = errors.New("the host's resolver is the gateway's port 53 itself, so forwarding would loop")
)
