package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/docker/docker/api/types/network"
)

// defaultBridge is the interface of the engine's default bridge network
// when the network's options name none.
const defaultBridge = "docker0"

// Gateway implements the Gateway ability: the IPv4 address of the
// engine's default bridge on the host. Containers on any bridge network
// reach the host on it, since traffic to an address of the host is the
// host's own and not forwarded between bridges. The network names its
// gateway only when it was given one, so otherwise the address is read
// from the bridge's interface, which must then be on this host.
func (d *Docker) Gateway(ctx context.Context) (string, error) {
	n, err := d.cli.NetworkInspect(ctx, "bridge", network.InspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspect the engine's bridge network: %w", err)
	}
	for _, c := range n.IPAM.Config {
		if ip := net.ParseIP(c.Gateway); ip != nil && ip.To4() != nil {
			return ip.String(), nil
		}
	}
	name := n.Options["com.docker.network.bridge.name"]
	if name == "" {
		name = defaultBridge
	}
	return interfaceIPv4(name)
}

// interfaceIPv4 is the first IPv4 address of a network interface of this
// host.
func interfaceIPv4(name string) (string, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return "", fmt.Errorf("the engine's bridge %s is not an interface of this host: %w", name, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return "", fmt.Errorf("addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String(), nil
		}
	}
	return "", errors.New("the engine's bridge " + name + " has no IPv4 address")
}
