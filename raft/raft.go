// Package raft sets up hashicorp/raft for skiff: BoltDB log and stable
// stores, a file snapshot store and a TCP transport under the data dir, the
// bootstrap of a new cluster, membership changes and leadership
// notifications. It hides *raft.Raft behind its own methods and knows
// skiff's FSM and nothing else.
package raft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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
	// WrapStream, when set, wraps the TCP stream layer; tests use it to
	// cut a node off from chosen peers.
	WrapStream func(StreamLayer) StreamLayer
	// TLS, when set, makes every Raft connection mutual TLS with it: a
	// peer without a certificate of the cluster is refused.
	TLS *tls.Config
	// CommitTimeout is how long a leader with nothing new to replicate
	// waits (up to twice that, at random) before it tells each follower
	// the commit index again; zero means DefaultCommitTimeout. A follower
	// hears of a commit no sooner, unless more entries follow it: callers
	// append one (a Barrier) after their commits rather than wait.
	CommitTimeout time.Duration
	// HeartbeatTimeout is how long a follower goes without hearing from
	// the leader before it stands for election (it checks at random
	// between one and two timeouts); a new leader is elected and writable
	// after two to three times that. The leader heartbeats every
	// HeartbeatPace of it, the election timeout and the leader's lease are
	// the same. Zero means DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration
}

// DefaultHeartbeatTimeout suits a LAN: a lost leader is noticed within
// about a second instead of the library's WAN-friendly defaults, for five
// heartbeats a second to every follower (see HeartbeatPace).
const DefaultHeartbeatTimeout = 500 * time.Millisecond

// HeartbeatPace is how often, as a share of the heartbeat timeout, the
// leader heartbeats its followers, all at once (see driver): at the
// default timeout every 200 ms, where hashicorp/raft alone heartbeats
// each follower every 50 to 100 ms on a timer of its own. A follower
// stands for election after a full timeout without a heartbeat, so it
// still hears from the leader two and a half times within one; the
// election, and so a dead leader's replacement, takes exactly as long as
// with the library's own heartbeats.
const HeartbeatPace = 0.4

// DefaultCommitTimeout is the leader's commit timeout when Config leaves
// it out. The library's 50 ms made an idle leader send an AppendEntries to
// every follower about thirteen times a second besides its heartbeats.
const DefaultCommitTimeout = time.Second

// StreamLayer is the connection layer under Raft's transport, named here
// so that callers that wrap it need not import hashicorp/raft.
type StreamLayer = hraft.StreamLayer

// Node is an open Raft member. Its methods are safe for concurrent use.
type Node struct {
	raft      *hraft.Raft
	store     *raftboltdb.BoltStore
	snaps     *hraft.FileSnapshotStore
	transport *hraft.NetworkTransport
	driver    *driver
	leaderCh  chan bool
	fsm       *fsm.FSM
	// startIndex is the last log index on disk when the node opened, and
	// startCommand the newest command entry up to it.
	startIndex, startCommand uint64
	// leaderChanges counts the changes of leader this node has seen,
	// which observeLeaders writes and Status reads.
	leaderChanges atomic.Uint64
	observer      *hraft.Observer
	observed      chan hraft.Observation
	unobserve     sync.Once
	storeErrs     *storeErrors
}

// StoreError returns the node's last failure to write its Raft log, when it
// came in the last half minute, and nil otherwise. A node that cannot write
// (its disk is full) cannot stay leader, so callers told that no leader is
// available can say why.
func (n *Node) StoreError() error { return n.storeErrs.last() }

// Status is what metrics show of a Raft node.
type Status struct {
	IsLeader                             bool
	LastIndex, CommitIndex, AppliedIndex uint64
	// LeaderChanges counts the changes of leader (to one or to none)
	// this node has seen since it opened.
	LeaderChanges uint64
}

// Status returns the node's indexes and leader changes; it is safe to
// call from any goroutine.
func (n *Node) Status() Status {
	return Status{IsLeader: n.IsLeader(), LastIndex: n.raft.LastIndex(), CommitIndex: n.raft.CommitIndex(), AppliedIndex: n.raft.AppliedIndex(),
		LeaderChanges: n.leaderChanges.Load()}
}

// observeLeaders counts the leader observations Raft sends, and has the
// heartbeat driver follow the changes of state, until Close closes the
// channel. Raft never blocks on the channel: an observation that finds it
// full is dropped, which can only make the count low in a storm of
// elections; the driver looks at Raft's state itself, on every change
// that does arrive and on its own ticks.
func (n *Node) observeLeaders() {
	for o := range n.observed {
		switch o.Data.(type) {
		case hraft.LeaderObservation:
			n.leaderChanges.Add(1)
		case hraft.RaftState:
			n.driver.sync()
		}
	}
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
	logger := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: "raft", Output: out, Level: level})
	storeErrs := newStoreErrors()
	logger.RegisterSink(storeErrs)

	rc := hraft.DefaultConfig()
	rc.LocalID = hraft.ServerID(cfg.NodeID)
	rc.Logger = logger
	rc.HeartbeatTimeout = DefaultHeartbeatTimeout
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	}
	rc.ElectionTimeout = rc.HeartbeatTimeout
	// The lease is as long as the library allows: with heartbeats every
	// HeartbeatPace of the timeout, half of it left a leader a margin of
	// only one heartbeat before it stepped down.
	rc.LeaderLeaseTimeout = rc.HeartbeatTimeout
	rc.CommitTimeout = DefaultCommitTimeout
	if cfg.CommitTimeout > 0 {
		rc.CommitTimeout = cfg.CommitTimeout
	}
	rc.SnapshotThreshold = 16384
	rc.TrailingLogs = 10240
	// Raft blocks on this channel, so it is buffered and the agent's
	// leadership monitor drains it; every transition is delivered, which
	// LeaderCh of the library does not promise.
	leaderCh := make(chan bool, 16)
	rc.NotifyCh = leaderCh

	// NoSync stays false: an acknowledged write must survive a crash.
	if err := checkStore(filepath.Join(cfg.DataDir, "raft.db")); err != nil {
		return nil, err
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("raft: open bolt store: %w", err)
	}
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, logger)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("raft: snapshot store: %w", err)
	}
	stream, err := listen(cfg.BindAddr, cfg.Advertise, cfg.TLS)
	if err != nil {
		store.Close()
		return nil, err
	}
	var layer StreamLayer = stream
	if cfg.WrapStream != nil {
		layer = cfg.WrapStream(layer)
	}
	// One append in flight per follower: hashicorp/raft's pipelined
	// replication can wedge for good when a follower refuses an append
	// while the next is in flight (hashicorp/raft#612), and that follower's
	// replica then stops moving while heartbeats keep it from calling an
	// election. On a LAN the pipeline buys next to nothing.
	transport := hraft.NewNetworkTransportWithConfig(&hraft.NetworkTransportConfig{Stream: layer, MaxPool: 3, MaxRPCsInFlight: 1,
		Timeout: 10 * time.Second, Logger: logger})
	startIndex, err := store.LastIndex()
	if err != nil {
		transport.Close()
		store.Close()
		return nil, fmt.Errorf("raft: read log: %w", err)
	}
	r, err := hraft.NewRaft(rc, f, store, store, snaps, mainLoopHeartbeats{transport})
	if err != nil {
		transport.Close()
		store.Close()
		return nil, fmt.Errorf("raft: start: %w", err)
	}
	n := &Node{raft: r, store: store, snaps: snaps, transport: transport, driver: newDriver(r, logger, rc.HeartbeatTimeout), leaderCh: leaderCh, fsm: f, storeErrs: storeErrs,
		startIndex: startIndex, startCommand: lastCommand(store, startIndex), observed: make(chan hraft.Observation, 16)}
	n.observer = hraft.NewObserver(n.observed, false, func(o *hraft.Observation) bool {
		switch o.Data.(type) {
		case hraft.LeaderObservation, hraft.RaftState:
			return true
		}
		return false
	})
	r.RegisterObserver(n.observer)
	go n.observeLeaders()
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
	return n.raft.BootstrapCluster(cfg).Error()
}

// Peers returns the current configuration.
func (n *Node) Peers() ([]Peer, error) {
	fut := n.raft.GetConfiguration()
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
	return n.raft.AddVoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, 10*time.Second).Error()
}

// AddNonvoter adds a read replica or updates its address. Only the leader
// may call it.
func (n *Node) AddNonvoter(id, addr string) error {
	return n.raft.AddNonvoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, 10*time.Second).Error()
}

// Demote turns a voter into a non-voter. Only the leader may call it.
func (n *Node) Demote(id string) error {
	return n.raft.DemoteVoter(hraft.ServerID(id), 0, 10*time.Second).Error()
}

// Remove takes a server out of the configuration. Only the leader may call
// it.
func (n *Node) Remove(id string) error {
	return n.raft.RemoveServer(hraft.ServerID(id), 0, 10*time.Second).Error()
}

// TransferLeadership hands leadership to another voter and waits for it.
// The heartbeat driver pauses meanwhile, so that the library times the
// transfer by the node's own election timeout.
func (n *Node) TransferLeadership() error {
	resume := n.driver.pause()
	defer resume()
	return n.raft.LeadershipTransfer().Error()
}

// Addr is the address peers reach this node on.
func (n *Node) Addr() string { return string(n.transport.LocalAddr()) }

// IsLeader reports whether this node leads.
func (n *Node) IsLeader() bool { return n.raft.State() == hraft.Leader }

// LeaderID returns the current leader's server id, or "".
func (n *Node) LeaderID() string {
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// Apply commits a framed command and returns, once this node's FSM applied
// it, what the FSM answered. It waits at most timeout (or until ctx's
// deadline) for Raft to take the entry, and stops waiting when ctx ends;
// an entry it stopped waiting for may still commit. The error
// is either a Raft failure (ErrNotLeader among them) or the FSM's refusal
// of the command.
func (n *Node) Apply(ctx context.Context, cmd []byte, timeout time.Duration) (any, error) {
	if err := ctx.Err(); err != nil {
		// Raft cannot take an entry back, so one that is no longer wanted
		// is never handed to it.
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		if timeout = min(timeout, time.Until(dl)); timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	fut := n.raft.Apply(cmd, timeout)
	if err := wait(ctx, fut); err != nil {
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

// LeaderCh delivers true when this node becomes the leader and false when
// it stops being one, every transition in order. Exactly one goroutine must
// drain it for as long as the node is open: Raft waits on it.
func (n *Node) LeaderCh() <-chan bool { return n.leaderCh }

// Barrier returns once every entry committed before it has been applied to
// this leader's FSM, or when ctx ends. A new leader calls it before it acts
// on its state.
func (n *Node) Barrier(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return context.DeadlineExceeded
		}
	}
	err := wait(ctx, n.raft.Barrier(timeout))
	if errors.Is(err, hraft.ErrNotLeader) || errors.Is(err, hraft.ErrLeadershipLost) {
		return ErrNotLeader
	}
	return err
}

// ReadIndex returns once this node has confirmed with a quorum that it
// still leads and has applied every entry its log held when called: what
// a consistent read needs, at the cost of one heartbeat round instead of
// a log entry written and synced on every voter, as Barrier does. The
// leader's log holds every committed entry, so its last index bounds what
// any read must see.
func (n *Node) ReadIndex(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	idx := n.raft.LastIndex()
	err := wait(ctx, n.raft.VerifyLeader())
	if errors.Is(err, hraft.ErrNotLeader) || errors.Is(err, hraft.ErrLeadershipLost) {
		return ErrNotLeader
	}
	if err != nil {
		return err
	}
	// Raft counts an entry applied once it is handed to the FSM, before
	// the FSM has applied it, so the FSM's own index must also reach the
	// last command the log held.
	cmd := lastCommand(n.store, idx)
	for delay := 100 * time.Microsecond; n.raft.AppliedIndex() < idx || n.fsm.State().Index() < cmd; delay = min(2*delay, 10*time.Millisecond) {
		if !n.IsLeader() {
			return ErrNotLeader
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
	return nil
}

// wait returns a future's error, or ctx's once it ends first. A context
// that cannot end costs no goroutine.
func wait(ctx context.Context, fut hraft.Future) error {
	if ctx.Done() == nil {
		return fut.Error()
	}
	done := make(chan error, 1)
	go func() { done <- fut.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CaughtUp reports whether the FSM has applied every entry that was in the
// local log when the node opened. Before that, a restarted node's state is
// a half-replayed past that nobody should act on. Raft counts an entry
// applied once it is handed to the FSM, so the FSM's own index must also
// have reached the last command of that log.
func (n *Node) CaughtUp() bool {
	return n.raft.AppliedIndex() >= n.startIndex && n.fsm.State().Index() >= n.startCommand
}

// lastCommand finds the index of the newest command entry at or below last,
// looking back at most a few entries (configuration changes and no-ops
// come one or two at a time); 0 when there is none.
func lastCommand(store hraft.LogStore, last uint64) uint64 {
	first, err := store.FirstIndex()
	if err != nil {
		return 0
	}
	for i := last; i >= max(first, 1) && last-i < 64; i-- {
		var l hraft.Log
		if store.GetLog(i, &l) == nil && l.Type == hraft.LogCommand {
			return i
		}
	}
	return 0
}

// Close shuts Raft down and closes the stores. It does not leave the
// cluster: a closed node is a member that is down.
func (n *Node) Close() error {
	// Raft shuts down first: a leadership check made after it returns at
	// once, where one made while a stalled main loop's queue is full
	// would hold the driver's ticker, and so close, until it is.
	err := n.raft.Shutdown().Error()
	n.driver.close()
	n.unobserve.Do(func() {
		n.raft.DeregisterObserver(n.observer)
		close(n.observed)
	})
	// Pooled outgoing connections are closed too, so that the peers'
	// handlers of them end instead of waiting on them for good.
	n.transport.CloseStreams()
	if cerr := n.transport.Close(); err == nil {
		err = cerr
	}
	if cerr := n.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// mainLoopHeartbeats is the network transport without the fast path that
// has Raft handle heartbeats on the connection's goroutine rather than in
// its main loop. A heartbeat of a newer term changes the term and steps the
// node down under a leader loop that is still taking writes, and the next
// write entered the log with the new leader's term: both logs then held
// different entries of one term at one index, which Raft takes for a
// match, and the old leader's replica applied a command the cluster never
// committed (hashicorp/raft#695). It happens when a paused leader comes
// back to a cluster that elected another. In the main loop a heartbeat
// waits behind the disk writes of appends, which the heartbeat timeout
// leaves ample room for on a LAN.
type mainLoopHeartbeats struct{ *hraft.NetworkTransport }

// SetHeartbeatHandler implements hraft.Transport: it keeps no handler, so
// that heartbeats reach Raft through the consumer channel as every other
// RPC does.
func (mainLoopHeartbeats) SetHeartbeatHandler(func(hraft.RPC)) {}

// tcpStream is a TCP stream layer, with TLS when configured, written out
// here so that it can be wrapped (hashicorp/raft keeps its own
// unexported).
type tcpStream struct {
	ln        net.Listener
	advertise net.Addr
	tls       *tls.Config
}

// listen opens the Raft port. Without an advertise address the layer
// advertises what it bound, which also resolves a ":0" port chosen by the
// kernel; an unspecified IP cannot be advertised.
func listen(bind, advertise string, tlsConfig *tls.Config) (*tcpStream, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raft: listen on %s: %w", bind, err)
	}
	s := &tcpStream{ln: ln, advertise: ln.Addr(), tls: tlsConfig}
	if advertise != "" {
		if s.advertise, err = net.ResolveTCPAddr("tcp", advertise); err != nil {
			ln.Close()
			return nil, fmt.Errorf("raft: advertise address %q: %w", advertise, err)
		}
	}
	if a, ok := s.advertise.(*net.TCPAddr); !ok || a.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("raft: address %s cannot be advertised; give an advertise address", s.advertise)
	}
	return s, nil
}

// Accept hands Raft the next connection. With TLS its handshake happens
// on the connection's first read, in Raft's goroutine for it, so that a
// peer that never completes one holds up nobody else; a failed handshake
// ends that connection only.
func (s *tcpStream) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil || s.tls == nil {
		return c, err
	}
	return tls.Server(c, s.tls), nil
}

func (s *tcpStream) Close() error   { return s.ln.Close() }
func (s *tcpStream) Addr() net.Addr { return s.advertise }

// Dial connects to a peer, completing the TLS handshake within timeout.
func (s *tcpStream) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if s.tls == nil {
		return net.DialTimeout("tcp", string(addr), timeout)
	}
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(addr), s.tls)
}
