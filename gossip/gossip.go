// Package gossip runs skiff's membership ring on hashicorp/memberlist:
// joining through any member, retrying joins, rejoining after a restart
// through the members it remembers, reconnecting to dead members, carrying
// each node's metadata, and reporting joins, updates, failures and leaves. Gossip is advisory: it
// discovers and suspects nodes; the Raft leader decides what follows. It
// imports nothing else of skiff's.
package gossip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"os"
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
	Tags            map[string]string `json:"tg,omitempty"`
	Version         string            `json:"v"`
	BootstrapExpect int               `json:"be,omitempty"`
	// Commands is the newest command type the node's state machine
	// applies; zero for releases that did not say, which know the
	// baseline set.
	Commands int `json:"cmd,omitempty"`
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
	// 500ms, which finds a dead host in about 2-3 s on a LAN. Gossip is
	// spread once an interval too.
	ProbeInterval time.Duration
	// LogOutput receives memberlist's log lines; nil discards them.
	LogOutput io.Writer
	// Debug keeps memberlist's [DEBUG] lines, which are dropped otherwise.
	Debug bool
	// SnapshotPath is a file where the ring keeps the addresses of the
	// members it has seen, so that a restarted node can find them again
	// even when the addresses it was told to join are gone or its own.
	// Empty keeps nothing.
	SnapshotPath string
	// ReconnectInterval is how often the ring tries to reach members that
	// are dead (not left), as serf's reconnect does; zero means 10s.
	ReconnectInterval time.Duration
	// SecretKey, when set, encrypts and authenticates every gossip message
	// with AES-GCM (16, 24 or 32 bytes); a member without the key is not
	// heard, and this one does not hear members without it.
	SecretKey []byte
	// ReapAfter is how long a member may stay dead before the ring forgets
	// it: no more reconnects, and gone from the snapshot. Zero means 24h.
	ReapAfter time.Duration
	// WrapTransport, when set, wraps memberlist's network transport; tests
	// use it to cut a node off from chosen peers.
	WrapTransport func(Transport) Transport
}

// Transport is memberlist's network transport, named here so that callers
// that wrap it need not import memberlist.
type Transport = memberlist.NodeAwareTransport

// Ring is a running membership ring. Its methods are safe for concurrent
// use.
type Ring struct {
	ml      *memberlist.Memberlist
	keyring *memberlist.Keyring // nil when gossip is not encrypted
	// local is this node as the ring started. Its name and address never
	// change; reading them through ml.LocalNode would race with memberlist's
	// own updates of this node's state.
	local     memberlist.Node
	logger    *log.Logger
	snapshot  string
	reconnect time.Duration
	reapAfter time.Duration
	// stopped is closed by Leave and Shutdown, which ends Maintain.
	stopped  chan struct{}
	stopOnce sync.Once
	mu       sync.Mutex // guards meta, status, known and dirty
	meta     []byte
	self     Meta
	status   map[string]*Member // by node id, including dead and left nodes
	// known maps the id of every other member seen, here or in the
	// snapshot of an earlier run, and not known to have left, to its
	// gossip address.
	known  map[string]string
	dirty  bool // known changed since the last snapshot
	notify chan struct{}
}

// Start joins nobody yet: it starts listening. Call Maintain (or Join).
func Start(cfg Config) (*Ring, error) {
	meta, err := json.Marshal(cfg.Meta)
	if err != nil {
		return nil, err
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("gossip: node metadata is %d bytes, over the %d the ring carries; use fewer or shorter attributes and tags", len(meta), memberlist.MetaMaxSize)
	}
	r := &Ring{meta: meta, self: cfg.Meta, status: map[string]*Member{}, notify: make(chan struct{}, 1),
		snapshot: cfg.SnapshotPath, reconnect: cfg.ReconnectInterval}
	if r.reconnect == 0 {
		r.reconnect = 10 * time.Second
	}
	r.reapAfter = cfg.ReapAfter
	if r.reapAfter == 0 {
		r.reapAfter = 24 * time.Hour
	}
	r.stopped = make(chan struct{})
	r.known = loadSnapshot(cfg.SnapshotPath)
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
	// Gossip spreads what probes found (suspect, dead, alive) and rides
	// along with the probes themselves too, so spreading it once a probe
	// interval costs a dead host no more than that interval, at most, to be
	// known everywhere; at 100 ms it woke every agent ten times a second,
	// mostly to find nothing to send.
	mc.GossipInterval = interval
	// A node that comes back under a new address is refused until its old
	// entry is dead and reclaimable; a short reclaim time and frequent full
	// state syncs (cheap on a small fleet) let it back in within seconds.
	mc.PushPullInterval = 5 * time.Second
	mc.DeadNodeReclaimTime = 3 * time.Second
	mc.SecretKey = cfg.SecretKey
	mc.Delegate = &delegate{r: r}
	mc.Events = &events{r: r}
	var out io.Writer = io.Discard
	if cfg.LogOutput != nil {
		out = &levelFilter{w: cfg.LogOutput, debug: cfg.Debug}
	}
	mc.Logger = log.New(out, "gossip: ", log.LstdFlags)
	r.logger = mc.Logger
	if cfg.WrapTransport != nil {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{mc.BindAddr}, BindPort: mc.BindPort, Logger: mc.Logger})
		if err != nil {
			return nil, fmt.Errorf("gossip: listen on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
		}
		mc.Transport = cfg.WrapTransport(nt)
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: listen on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	r.ml, r.local = ml, *ml.LocalNode()
	r.keyring = mc.Keyring
	return r, nil
}

// errNoKeyring refuses a key change on a ring that does not encrypt.
var errNoKeyring = errors.New("gossip: the ring is not encrypted")

// AddKey lets the ring hear members that encrypt with key, besides the
// keys it has. A rotation adds the new key everywhere before any member
// speaks with it, so that no member goes deaf to another on the way.
func (r *Ring) AddKey(key []byte) error {
	if r.keyring == nil {
		return errNoKeyring
	}
	return r.keyring.AddKey(key)
}

// UseKey makes key, already added, the one the ring encrypts with.
func (r *Ring) UseKey(key []byte) error {
	if r.keyring == nil {
		return errNoKeyring
	}
	return r.keyring.UseKey(key)
}

// RemoveKey stops the ring hearing members that encrypt with key. The key
// in use cannot be removed.
func (r *Ring) RemoveKey(key []byte) error {
	if r.keyring == nil {
		return errNoKeyring
	}
	return r.keyring.RemoveKey(key)
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

// Maintain keeps this node in the ring until ctx ends. While it sees no
// other live member it tries to join, waiting 1s, 2s, 4s ... up to 30s
// between tries and logging each: first the given addresses (HOST or
// HOST:PORT), then the members remembered in the snapshot, then those that
// fallback returns (for example the Raft peers' hosts). This node's own
// address never counts as a way in. Once in, it tries every
// ReconnectInterval to reach members that are dead but did not leave, and
// keeps the snapshot up to date.
func (r *Ring) Maintain(ctx context.Context, addrs []string, defaultPort int, fallback func() []string, logf func(msg string, args ...any)) {
	wait := time.Second
	timer := time.NewTimer(0)
	defer timer.Stop()
	for try := 1; ; {
		select {
		case <-ctx.Done():
			return
		case <-r.stopped:
			return
		case <-timer.C:
		}
		r.reap()
		r.saveSnapshot(logf)
		if !r.alone() {
			r.reconnectDead(ctx)
			wait = time.Second
			timer.Reset(r.reconnect)
			continue
		}
		candidates := withPorts(addrs, defaultPort)
		candidates = append(candidates, r.remembered()...)
		candidates = append(candidates, withPorts(fallback(), defaultPort)...)
		candidates = r.others(append(candidates, r.deadAddrs()...))
		if len(candidates) > 0 {
			n, err := r.join(ctx, candidates)
			if n > 0 && !r.alone() {
				logf("joined the cluster", "try", try, "answered", n)
				timer.Reset(r.reconnect)
				try = 1
				continue
			}
			logf("join failed; retrying", "try", try, "addrs", candidates, "err", err, "wait", wait)
			try++
		}
		timer.Reset(wait)
		wait = min(wait*2, 30*time.Second)
	}
}

// join contacts addrs, giving up when ctx ends or the ring stops: a member
// that does not answer costs memberlist's TCP timeout each, and an agent
// that is closing must not wait for them. A join given up on finishes in
// the background and fails once the ring is shut down.
func (r *Ring) join(ctx context.Context, addrs []string) (int, error) {
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := r.ml.Join(addrs)
		done <- result{n, err}
	}()
	select {
	case res := <-done:
		return res.n, res.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-r.stopped:
		return 0, errors.New("gossip: stopped")
	}
}

// stop ends Maintain; it is safe to call more than once.
func (r *Ring) stop() { r.stopOnce.Do(func() { close(r.stopped) }) }

// reap forgets members dead for longer than ReapAfter: hosts that were
// rebuilt under a new id or retired without a leave would otherwise be
// reconnected to, and remembered, for ever.
func (r *Ring) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, m := range r.status {
		if m.Status == StatusDead && time.Since(m.Since) > r.reapAfter {
			delete(r.status, id)
			if _, ok := r.known[id]; ok {
				delete(r.known, id)
				r.dirty = true
			}
		}
	}
}

// alone reports whether no other member is alive in this node's view.
func (r *Ring) alone() bool {
	self := r.local.Name
	for _, n := range r.ml.Members() {
		if n.Name != self && n.State == memberlist.StateAlive {
			return false
		}
	}
	return true
}

// others drops this node's own addresses and duplicates from addrs.
func (r *Ring) others(addrs []string) []string {
	own := map[string]bool{r.LocalAddr(): true}
	for _, a := range r.ownAddrs() {
		own[a] = true
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if !own[a] {
			own[a] = true
			out = append(out, a)
		}
	}
	return out
}

// ownAddrs lists host:port forms of this node's gossip port on every
// address of this host, so that a --join naming this very host is skipped.
func (r *Ring) ownAddrs() []string {
	port := strconv.Itoa(int(r.local.Port))
	out := []string{net.JoinHostPort("localhost", port)}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range ifaddrs {
		if ipn, ok := a.(*net.IPNet); ok {
			out = append(out, net.JoinHostPort(ipn.IP.String(), port))
		}
	}
	return out
}

// reconnectDead tries to reach members that are dead but did not leave: a
// node that restarted alone, or came back from a partition, is pulled back
// into the ring from this side too.
func (r *Ring) reconnectDead(ctx context.Context) {
	if addrs := r.others(r.deadAddrs()); len(addrs) > 0 {
		_, _ = r.join(ctx, addrs)
	}
}

// deadAddrs lists the addresses of members that are dead but did not
// leave.
func (r *Ring) deadAddrs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.status {
		if m.Status == StatusDead {
			out = append(out, m.Addr)
		}
	}
	sort.Strings(out)
	return out
}

// snapshotFile is the on-disk form of the members a node remembers.
type snapshotFile struct {
	Members map[string]string `json:"members"` // node id -> gossip address
}

// loadSnapshot reads the members an earlier run remembered; a missing or
// unreadable file remembers nobody.
func loadSnapshot(path string) map[string]string {
	known := map[string]string{}
	if path == "" {
		return known
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return known
	}
	var f snapshotFile
	if json.Unmarshal(b, &f) != nil {
		return known
	}
	for id, addr := range f.Members {
		known[id] = addr
	}
	return known
}

// remembered returns the gossip addresses of the members this node knows
// of, including those an earlier run kept in the snapshot.
func (r *Ring) remembered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.known))
	for _, addr := range r.known {
		out = append(out, addr)
	}
	sort.Strings(out)
	return out
}

// saveSnapshot writes the members this node knows of when they changed. It writes a new file and renames it, so a
// crash leaves the old snapshot or the new one.
func (r *Ring) saveSnapshot(logf func(msg string, args ...any)) {
	r.mu.Lock()
	if r.snapshot == "" || !r.dirty {
		r.mu.Unlock()
		return
	}
	f := snapshotFile{Members: maps.Clone(r.known)}
	r.dirty = false
	r.mu.Unlock()
	b, _ := json.Marshal(&f)
	if err := writeFileSync(r.snapshot, b); err != nil {
		logf("cannot save the gossip snapshot; will try again", "path", r.snapshot, "err", err)
		r.mu.Lock()
		r.dirty = true
		r.mu.Unlock()
	}
}

// writeFileSync replaces path with data through a synced temporary file,
// so that a crash leaves the old content or the new, never a torn file.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	return err
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
	r.stop()
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
func (r *Ring) Shutdown() error {
	r.stop()
	return r.ml.Shutdown()
}

// LocalAddr is the address others reach this node's gossip on.
func (r *Ring) LocalAddr() string {
	return net.JoinHostPort(r.local.Addr.String(), strconv.Itoa(int(r.local.Port)))
}

func (r *Ring) set(n *memberlist.Node, status string) {
	var meta Meta
	if err := json.Unmarshal(n.Meta, &meta); err != nil || meta.ID == "" {
		r.logger.Printf("[WARN] ignoring member %q: its metadata does not decode", n.Name)
		return
	}
	// Members are named by node id. Metadata that claims another id is an
	// impostor's (or a bug's): believing it would let one member speak
	// for another node, so it is ignored.
	if meta.ID != n.Name {
		r.logger.Printf("[WARN] ignoring member %q at %s: its metadata claims node id %q", n.Name, n.Address(), meta.ID)
		return
	}
	r.mu.Lock()
	old := r.status[meta.ID]
	m := &Member{Meta: meta, Addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), Status: status, Since: time.Now()}
	if old != nil && old.Status == status {
		m.Since = old.Since
	}
	r.status[meta.ID] = m
	if meta.ID != r.self.ID {
		had, ok := r.known[meta.ID]
		if status == StatusLeft {
			delete(r.known, meta.ID)
			r.dirty = r.dirty || ok
		} else {
			r.known[meta.ID] = m.Addr
			r.dirty = r.dirty || had != m.Addr
		}
	}
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
