package agent

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/structs"
	"github.com/skiff-run/skiff/token"
)

// defaultGossipPort is the port a --join address without one is given.
const defaultGossipPort = 7946

// advertiseIP is the IP other agents reach this one on: the configured
// one, else the IP Raft binds when it is specific, else a private IP of
// the host.
func advertiseIP(cfg Config) (string, error) {
	if cfg.Advertise != "" {
		return cfg.Advertise, nil
	}
	host, _, err := net.SplitHostPort(cfg.RaftAddr)
	if err != nil {
		return "", fmt.Errorf("agent: raft address %q: %w", cfg.RaftAddr, err)
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		return host, nil
	}
	ip, err := sockaddr.GetPrivateIP()
	if err != nil || ip == "" {
		return "", fmt.Errorf("agent: cannot tell which IP to advertise; give --advertise (%v)", err)
	}
	return ip, nil
}

// tagMap is the node's tags as gossip carries them, keyed by tag key (the
// keys are unique).
func tagMap(tags []structs.Tag) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		out[t.Key] = t.Value
	}
	return out
}

func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// startGossip starts the ring with this node's metadata. The ring
// remembers the members it has seen in the data dir, so that a restarted
// agent finds them again (Maintain, started by New, does the joining).
func (a *Agent) startGossip(ip string, secret *token.Secret) error {
	host, _, err := net.SplitHostPort(a.cfg.GossipAddr)
	if err != nil {
		return fmt.Errorf("agent: gossip address %q: %w", a.cfg.GossipAddr, err)
	}
	gcfg := gossip.Config{
		Meta: gossip.Meta{ID: a.id, Name: a.cfg.Name, RaftAddr: a.raft.Addr(), APIAddr: net.JoinHostPort(ip, strconv.Itoa(portOf(a.httpLn.Addr().String()))),
			CPU: a.cfg.CPU, MemoryMiB: a.cfg.MemoryMiB, Attributes: a.cfg.Attributes, Tags: tagMap(a.cfg.Tags), Version: Version, BootstrapExpect: a.cfg.BootstrapExpect,
			Commands: int(fsm.Newest())},
		BindAddr: host, BindPort: portOf(a.cfg.GossipAddr), AdvertiseAddr: ip, ProbeInterval: a.cfg.ProbeInterval, LogOutput: a.cfg.RaftLog,
		Debug: a.cfg.Debug, SnapshotPath: filepath.Join(a.cfg.DataDir, "gossip-members.json"), ReconnectInterval: a.cfg.ReconnectInterval,
	}
	if a.cfg.Faults != nil {
		gcfg.WrapTransport = a.cfg.Faults.Transport
	}
	if secret != nil {
		gcfg.SecretKey = secret.GossipKey()
	}
	a.ring, err = gossip.Start(gcfg)
	return err
}

// peerGossipAddrs guesses the gossip addresses of the Raft peers this node
// remembers from its log: their hosts with this node's gossip port, which
// is what a fleet started with the same flags everywhere uses. It is the
// last way back into the ring for an agent restarted alone.
func (a *Agent) peerGossipAddrs() []string {
	peers, err := a.raft.Peers()
	if err != nil {
		return nil
	}
	port := strconv.Itoa(portOf(a.cfg.GossipAddr))
	var out []string
	for _, p := range peers {
		if host, _, err := net.SplitHostPort(p.Address); err == nil && p.ID != a.id {
			out = append(out, net.JoinHostPort(host, port))
		}
	}
	return out
}

// leaderOf asks the agent at an API address which leader it knows. It is
// asked only while a cluster forms, so a client per call costs little.
func (a *Agent) leaderOf(ctx context.Context, apiAddr string) (string, error) {
	// Bootstrap asks every member it sees in turn; one that does not
	// answer must not hold the others up.
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	h, err := api.NewClient(apiAddr, a.peerTLS).Health(ctx)
	return h.Leader, err
}
