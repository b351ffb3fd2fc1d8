// Package raft sets up hashicorp/raft for skiff: BoltDB log and stable
// stores, a file snapshot store and a TCP transport under the data dir, and
// the bootstrap of a new cluster. It knows skiff's FSM and nothing else.
package raft

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/skiff-run/skiff/fsm"
)

// Config says how to open a Raft node.
type Config struct {
	// NodeID is the node's permanent identity; it is the Raft server id.
	NodeID string
	// DataDir holds raft.db and the snapshots.
	DataDir string
	// BindAddr is the TCP address Raft listens on, e.g. "0.0.0.0:7071".
	BindAddr string
	// Advertise is the address peers dial; it defaults to BindAddr.
	Advertise string
	// Bootstrap makes a node with no state form a one-voter cluster.
	Bootstrap bool
	// LogOutput receives Raft's own log lines; nil discards them.
	LogOutput io.Writer
	// Debug logs Raft at debug level instead of warnings and errors only.
	Debug bool
}

// Node is an open Raft member. Its methods are safe for concurrent use.
type Node struct {
	Raft      *hraft.Raft
	FSM       *fsm.FSM
	store     *raftboltdb.BoltStore
	snaps     *hraft.FileSnapshotStore
	transport *hraft.NetworkTransport
}

// Peer is one server of the Raft configuration.
type Peer struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
	Leader  bool   `json:"leader"`
}

// ErrNotLeader is returned by Apply on a node that is not the leader.
var ErrNotLeader = errors.New("not the raft leader")

// Open starts a Raft node over f. A node whose data dir holds state resumes
// it; one without state bootstraps only when cfg.Bootstrap is set.
func Open(cfg Config, f *fsm.FSM) (*Node, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raft: data dir: %w", err)
	}
	out := cfg.LogOutput
	if out == nil {
		out = io.Discard
	}
	level := hclog.Warn
	if cfg.Debug {
		level = hclog.Debug
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: out, Level: level})

	rc := hraft.DefaultConfig()
	rc.LocalID = hraft.ServerID(cfg.NodeID)
	rc.Logger = logger
	// LAN timings: a lost leader is noticed within about a second instead
	// of the library's WAN-friendly defaults.
	rc.HeartbeatTimeout = 500 * time.Millisecond
	rc.ElectionTimeout = 500 * time.Millisecond
	rc.LeaderLeaseTimeout = 250 * time.Millisecond
	rc.SnapshotThreshold = 16384
	rc.TrailingLogs = 10240

	// NoSync stays false: an acknowledged write must survive a crash.
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("raft: open bolt store: %w", err)
	}
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, logger)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("raft: snapshot store: %w", err)
	}
	// Without an advertise address the transport advertises what it bound,
	// which also resolves a ":0" port chosen by the kernel.
	var addr net.Addr
	if cfg.Advertise != "" {
		if addr, err = net.ResolveTCPAddr("tcp", cfg.Advertise); err != nil {
			store.Close()
			return nil, fmt.Errorf("raft: advertise address %q: %w", cfg.Advertise, err)
		}
	}
	transport, err := hraft.NewTCPTransportWithLogger(cfg.BindAddr, addr, 3, 10*time.Second, logger)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("raft: listen on %s: %w", cfg.BindAddr, err)
	}
	r, err := hraft.NewRaft(rc, f, store, store, snaps, transport)
	if err != nil {
		transport.Close()
		store.Close()
		return nil, fmt.Errorf("raft: start: %w", err)
	}
	n := &Node{Raft: r, FSM: f, store: store, snaps: snaps, transport: transport}
	if cfg.Bootstrap {
		has, err := hraft.HasExistingState(store, store, snaps)
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("raft: read state: %w", err)
		}
		if !has {
			boot := hraft.Configuration{Servers: []hraft.Server{{ID: rc.LocalID, Address: transport.LocalAddr()}}}
			if err := r.BootstrapCluster(boot).Error(); err != nil {
				n.Close()
				return nil, fmt.Errorf("raft: bootstrap: %w", err)
			}
		}
	}
	return n, nil
}

// HasState reports whether this node has ever been part of a cluster.
func (n *Node) HasState() (bool, error) {
	return hraft.HasExistingState(n.store, n.store, n.snaps)
}

// BootstrapWith forms a new cluster whose voters are peers (id -> address).
// Every member of a new cluster may call it with the same peers; a node
// that already has state refuses.
func (n *Node) BootstrapWith(peers map[string]string) error {
	cfg := hraft.Configuration{}
	for id, addr := range peers {
		cfg.Servers = append(cfg.Servers, hraft.Server{ID: hraft.ServerID(id), Address: hraft.ServerAddress(addr), Suffrage: hraft.Voter})
	}
	return n.Raft.BootstrapCluster(cfg).Error()
}

// Peers returns the current configuration.
func (n *Node) Peers() ([]Peer, error) {
	fut := n.Raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return nil, err
	}
	leader := n.LeaderID()
	var out []Peer
	for _, s := range fut.Configuration().Servers {
		out = append(out, Peer{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == hraft.Voter, Leader: string(s.ID) == leader})
	}
	return out, nil
}

// AddVoter adds a voter, promotes a non-voter, or updates a voter's
// address. Only the leader may call it.
func (n *Node) AddVoter(id, addr string) error {
	return n.Raft.AddVoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, 10*time.Second).Error()
}

// AddNonvoter adds a read replica or updates its address. Only the leader
// may call it.
func (n *Node) AddNonvoter(id, addr string) error {
	return n.Raft.AddNonvoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, 10*time.Second).Error()
}

// Demote turns a voter into a non-voter. Only the leader may call it.
func (n *Node) Demote(id string) error {
	return n.Raft.DemoteVoter(hraft.ServerID(id), 0, 10*time.Second).Error()
}

// Remove takes a server out of the configuration. Only the leader may call
// it.
func (n *Node) Remove(id string) error {
	return n.Raft.RemoveServer(hraft.ServerID(id), 0, 10*time.Second).Error()
}

// TransferLeadership hands leadership to another voter and waits for it.
func (n *Node) TransferLeadership() error { return n.Raft.LeadershipTransfer().Error() }

// Addr is the address peers reach this node on.
func (n *Node) Addr() string { return string(n.transport.LocalAddr()) }

// IsLeader reports whether this node leads.
func (n *Node) IsLeader() bool { return n.Raft.State() == hraft.Leader }

// LeaderID returns the current leader's server id, or "".
func (n *Node) LeaderID() string {
	_, id := n.Raft.LeaderWithID()
	return string(id)
}

// Apply commits a framed command and returns, once this node's FSM applied
// it, what the FSM answered. The error is either a Raft failure
// (ErrNotLeader among them) or the FSM's refusal of the command.
func (n *Node) Apply(cmd []byte, timeout time.Duration) (any, error) {
	fut := n.Raft.Apply(cmd, timeout)
	if err := fut.Error(); err != nil {
		if errors.Is(err, hraft.ErrNotLeader) || errors.Is(err, hraft.ErrLeadershipLost) {
			return nil, ErrNotLeader
		}
		return nil, fmt.Errorf("raft apply: %w", err)
	}
	if err, ok := fut.Response().(error); ok {
		return nil, err
	}
	return fut.Response(), nil
}

// Close shuts Raft down and closes the stores. It does not leave the
// cluster: a closed node is a member that is down.
func (n *Node) Close() error {
	err := n.Raft.Shutdown().Error()
	if cerr := n.transport.Close(); err == nil {
		err = cerr
	}
	if cerr := n.store.Close(); err == nil {
		err = cerr
	}
	return err
}
