// Package gossip runs skiff's membership ring on hashicorp/memberlist:
// joining through any member, retrying joins, carrying each node's metadata,
// and reporting joins, updates, failures and leaves. Gossip is advisory: it
// discovers and suspects nodes; the Raft leader decides what follows. It
// imports nothing else of skiff's.
package gossip

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Meta is what every node tells the others about itself. It must encode to
// at most memberlist.MetaMaxSize (512) bytes.
type Meta struct {
	ID              string            `json:"id"`
	Name            string            `json:"n"`
	RaftAddr        string            `json:"r"`
	APIAddr         string            `json:"a"`
	CPU             int64             `json:"c,omitempty"`
	MemoryMiB       int64             `json:"m,omitempty"`
	Attributes      map[string]string `json:"at,omitempty"`
	Version         string            `json:"v"`
	BootstrapExpect int               `json:"be,omitempty"`
	// Leaving is announced just before a graceful leave, so that others
	// can tell a node that left from one that failed.
	Leaving bool `json:"l,omitempty"`
}

// Member statuses.
const (
	StatusAlive   = "alive"
	StatusSuspect = "suspect"
	StatusDead    = "dead"
	StatusLeft    = "left"
)

// Member is one node as gossip sees it.
type Member struct {
	Meta
	Addr   string    `json:"addr"`
	Status string    `json:"status"`
	Since  time.Time `json:"since"`
}

// Config configures the ring.
type Config struct {
	Meta Meta
	// BindAddr and BindPort are where gossip listens (UDP and TCP).
	BindAddr string
	BindPort int
	// AdvertiseAddr is the IP others reach this node on; empty means the
	// bound or a private address.
	AdvertiseAddr string
	// ProbeInterval sets failure detection speed: a dead node is declared
	// dead after about 4 to 5 intervals on a small cluster. Zero means
	// 500ms, which finds a dead host in about 2-3 s on a LAN.
	ProbeInterval time.Duration
	// LogOutput receives memberlist's log lines; nil discards them.
	LogOutput io.Writer
	// Debug keeps memberlist's [DEBUG] lines, which are dropped otherwise.
	Debug bool
}

// Ring is a running membership ring. Its methods are safe for concurrent
// use.
type Ring struct {
	ml     *memberlist.Memberlist
	mu     sync.Mutex // guards meta, status
	meta   []byte
	self   Meta
	status map[string]*Member // by node id, including dead and left nodes
	notify chan struct{}
}

// Start joins nobody yet: it starts listening. Call Join or RetryJoin.
func Start(cfg Config) (*Ring, error) {
	meta, err := json.Marshal(cfg.Meta)
	if err != nil {
		return nil, err
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("gossip: node metadata is %d bytes, over the %d the ring carries; use fewer or shorter attributes", len(meta), memberlist.MetaMaxSize)
	}
	r := &Ring{meta: meta, self: cfg.Meta, status: map[string]*Member{}, notify: make(chan struct{}, 1)}
	mc := memberlist.DefaultLANConfig()
	// The node id, not the host name or address, names a member, so that a
	// host that comes back with a new IP is the same member.
	mc.Name = cfg.Meta.ID
	mc.BindAddr = cfg.BindAddr
	mc.BindPort = cfg.BindPort
	mc.AdvertisePort = cfg.BindPort
	if cfg.AdvertiseAddr != "" {
		mc.AdvertiseAddr = cfg.AdvertiseAddr
	}
	interval := cfg.ProbeInterval
	if interval == 0 {
		interval = 500 * time.Millisecond
	}
	mc.ProbeInterval = interval
	mc.ProbeTimeout = interval / 2
	mc.GossipInterval = 100 * time.Millisecond
	// A node that comes back under a new address is refused until its old
	// entry is dead and reclaimable; a short reclaim time and frequent full
	// state syncs (cheap on a small fleet) let it back in within seconds.
	mc.PushPullInterval = 5 * time.Second
	mc.DeadNodeReclaimTime = 3 * time.Second
	mc.Delegate = &delegate{r: r}
	mc.Events = &events{r: r}
	var out io.Writer = io.Discard
	if cfg.LogOutput != nil {
		out = &levelFilter{w: cfg.LogOutput, debug: cfg.Debug}
	}
	mc.Logger = log.New(out, "gossip: ", log.LstdFlags)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: listen on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	r.ml = ml
	return r, nil
}

// Join contacts the given members (HOST or HOST:PORT; the port defaults to
// defaultPort) and returns how many answered.
func (r *Ring) Join(addrs []string, defaultPort int) (int, error) {
	return r.ml.Join(withPorts(addrs, defaultPort))
}

func withPorts(addrs []string, port int) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			a = net.JoinHostPort(a, strconv.Itoa(port))
		}
		out = append(out, a)
	}
	return out
}

// RetryJoin keeps trying to join until one member answers or ctx ends,
// waiting 1s, 2s, 4s ... up to 30s between tries and logging each.
func (r *Ring) RetryJoin(ctx context.Context, addrs []string, defaultPort int, logf func(msg string, args ...any)) error {
	wait := time.Second
	for try := 1; ; try++ {
		n, err := r.Join(addrs, defaultPort)
		if n > 0 {
			logf("joined the cluster", "try", try, "answered", n)
			return nil
		}
		logf("join failed; retrying", "try", try, "addrs", addrs, "err", err, "wait", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// Members returns every node the ring has seen, ordered by name.
func (r *Ring) Members() []Member {
	states := map[string]memberlist.NodeStateType{}
	for _, n := range r.ml.Members() {
		states[n.Name] = n.State
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Member, 0, len(r.status))
	for id, m := range r.status {
		c := *m
		if st, ok := states[id]; ok && st == memberlist.StateSuspect && c.Status == StatusAlive {
			c.Status = StatusSuspect
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Changed returns a channel that receives after membership changes; one
// signal may stand for several changes.
func (r *Ring) Changed() <-chan struct{} { return r.notify }

// Leave tells the ring this node is leaving on purpose, then stops.
func (r *Ring) Leave(timeout time.Duration) error {
	// memberlist does not pass "left" to the others' event handlers, so the
	// intent travels in the metadata first.
	r.mu.Lock()
	r.self.Leaving = true
	r.meta, _ = json.Marshal(r.self)
	r.mu.Unlock()
	_ = r.ml.UpdateNode(timeout)
	err := r.ml.Leave(timeout)
	if serr := r.ml.Shutdown(); err == nil {
		err = serr
	}
	return err
}

// Shutdown stops the ring without telling anyone: others will find this
// node dead.
func (r *Ring) Shutdown() error { return r.ml.Shutdown() }

// LocalAddr is the address others reach this node's gossip on.
func (r *Ring) LocalAddr() string {
	n := r.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

func (r *Ring) set(n *memberlist.Node, status string) {
	var meta Meta
	if err := json.Unmarshal(n.Meta, &meta); err != nil || meta.ID == "" {
		return
	}
	r.mu.Lock()
	old := r.status[meta.ID]
	m := &Member{Meta: meta, Addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), Status: status, Since: time.Now()}
	if old != nil && old.Status == status {
		m.Since = old.Since
	}
	r.status[meta.ID] = m
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

type events struct{ r *Ring }

func (e *events) NotifyJoin(n *memberlist.Node)   { e.r.set(n, StatusAlive) }
func (e *events) NotifyUpdate(n *memberlist.Node) { e.r.set(n, StatusAlive) }
func (e *events) NotifyLeave(n *memberlist.Node) {
	var meta Meta
	if json.Unmarshal(n.Meta, &meta) == nil && meta.Leaving {
		e.r.set(n, StatusLeft)
		return
	}
	e.r.set(n, StatusDead)
}

// delegate hands memberlist this node's metadata; skiff sends no other
// gossip messages.
type delegate struct{ r *Ring }

func (d *delegate) NodeMeta(limit int) []byte {
	d.r.mu.Lock()
	defer d.r.mu.Unlock()
	return d.r.meta
}
func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// levelFilter drops memberlist's [DEBUG] lines unless debug is set. The
// standard logger writes one line per call, so a line is never split.
type levelFilter struct {
	w     io.Writer
	debug bool
}

func (f *levelFilter) Write(p []byte) (int, error) {
	if !f.debug && bytes.Contains(p, []byte("[DEBUG]")) {
		return len(p), nil
	}
	return f.w.Write(p)
}
