// Package faultnet cuts network links between in-process agents, for tests
// of partitions. A Filter belongs to one agent and lists the addresses that
// agent cannot reach; it wraps the agent's Raft stream layer and its
// memberlist transport so that both obey the list.
//
// Filtering happens on the dialling side: a connection accepted from a
// peer comes from one of the peer's ephemeral ports, which names no agent,
// so a Filter cannot tell whose it is. A partition between A and B is
// therefore made by cutting B in A's filter and A in B's: each side then
// refuses to dial the other and closes the connections it had dialled,
// which are the connections the other side had accepted. Gossip's UDP
// packets are sent from the sender's bound port, so those are filtered in
// both directions by one filter.
//
// Production code holds a nil *Filter; the wrapping methods return what
// they are given on a nil Filter, and Blocked reports false.
package faultnet

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// ErrCut is the error a dial to a cut address fails with.
var ErrCut = errors.New("faultnet: link cut")

// Filter is one agent's list of unreachable addresses. Its methods are
// safe for concurrent use; Cut and Heal take effect at once for every
// stream layer and transport the Filter wraps.
type Filter struct {
	mu      sync.Mutex
	blocked map[string]bool                  // canonical addresses; guarded by mu
	conns   map[string]map[*trackedConn]bool // live dialled connections by remote; guarded by mu
}

// New returns a Filter that blocks nothing.
func New() *Filter {
	return &Filter{blocked: map[string]bool{}, conns: map[string]map[*trackedConn]bool{}}
}

// canonical spells an address one way, so that "127.0.0.1:80" from a
// configuration and a net.Addr's String() compare equal. Host names are
// kept as they are: the agents under test use IP addresses.
func canonical(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	return net.JoinHostPort(host, port)
}

// Cut blocks the given addresses (host:port, Raft or gossip) and closes
// every connection dialled through this Filter to any of them.
func (f *Filter) Cut(addrs ...string) {
	var doomed []*trackedConn
	f.mu.Lock()
	for _, a := range addrs {
		a = canonical(a)
		f.blocked[a] = true
		for c := range f.conns[a] {
			doomed = append(doomed, c)
		}
	}
	f.mu.Unlock()
	// Closing outside the lock: a Close may block on the connection, and
	// trackedConn.Close takes the lock to forget itself.
	for _, c := range doomed {
		c.Close()
	}
}

// Heal unblocks every address. Connections closed by Cut stay closed; the
// libraries dial new ones.
func (f *Filter) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.blocked)
}

// Blocked reports whether addr is cut. A nil Filter blocks nothing.
func (f *Filter) Blocked(addr string) bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocked[canonical(addr)]
}

// track registers a dialled connection to addr so that a later Cut closes
// it. A Cut that came between the caller's check and the dial wins: the
// connection is closed and ErrCut returned.
func (f *Filter) track(addr string, c net.Conn) (net.Conn, error) {
	addr = canonical(addr)
	tc := &trackedConn{Conn: c, f: f, addr: addr}
	f.mu.Lock()
	if f.blocked[addr] {
		f.mu.Unlock()
		c.Close()
		return nil, dialErr(addr)
	}
	if f.conns[addr] == nil {
		f.conns[addr] = map[*trackedConn]bool{}
	}
	f.conns[addr][tc] = true
	f.mu.Unlock()
	return tc, nil
}

func (f *Filter) forget(c *trackedConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns[c.addr], c)
	if len(f.conns[c.addr]) == 0 {
		delete(f.conns, c.addr)
	}
}

func dialErr(addr string) error { return fmt.Errorf("dial %s: %w", addr, ErrCut) }

// trackedConn is a dialled connection the Filter can close on a Cut.
type trackedConn struct {
	net.Conn
	f    *Filter
	addr string
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.f.forget(c) })
	return c.Conn.Close()
}

// StreamLayer wraps a Raft stream layer: dials to a cut address fail with
// ErrCut, and the connections it dials are closed when their remote is
// cut. Accepting is left alone (see the package comment). On a nil Filter
// it returns inner.
func (f *Filter) StreamLayer(inner raft.StreamLayer) raft.StreamLayer {
	if f == nil {
		return inner
	}
	return &streamLayer{StreamLayer: inner, f: f}
}

type streamLayer struct {
	raft.StreamLayer
	f *Filter
}

func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if s.f.Blocked(string(addr)) {
		return nil, dialErr(string(addr))
	}
	c, err := s.StreamLayer.Dial(addr, timeout)
	if err != nil {
		return nil, err
	}
	return s.f.track(string(addr), c)
}

// Transport wraps a memberlist transport: packets to a cut address are
// dropped as a lossy network drops them (the write reports success),
// packets from a cut address are dropped on arrival, stream dials to a cut
// address fail with ErrCut, and dialled streams are closed when their
// remote is cut. It starts a goroutine that filters incoming packets until
// Shutdown. On a nil Filter it returns inner.
func (f *Filter) Transport(inner memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
	if f == nil {
		return inner
	}
	t := &transport{NodeAwareTransport: inner, f: f, packets: make(chan *memberlist.Packet), stop: make(chan struct{})}
	t.wg.Add(1)
	go t.filterPackets()
	return t
}

type transport struct {
	memberlist.NodeAwareTransport
	f        *Filter
	packets  chan *memberlist.Packet
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// filterPackets passes the inner transport's incoming packets on, except
// those from cut addresses, until Shutdown.
func (t *transport) filterPackets() {
	defer t.wg.Done()
	in := t.NodeAwareTransport.PacketCh()
	for {
		select {
		case p := <-in:
			if p.From != nil && t.f.Blocked(p.From.String()) {
				continue
			}
			select {
			case t.packets <- p:
			case <-t.stop:
				return
			}
		case <-t.stop:
			return
		}
	}
}

func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.f.Blocked(addr) {
		return time.Now(), nil
	}
	return t.NodeAwareTransport.WriteTo(b, addr)
}

func (t *transport) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	if t.f.Blocked(addr.Addr) {
		return time.Now(), nil
	}
	return t.NodeAwareTransport.WriteToAddress(b, addr)
}

func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.f.Blocked(addr) {
		return nil, dialErr(addr)
	}
	c, err := t.NodeAwareTransport.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return t.f.track(addr, c)
}

func (t *transport) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.f.Blocked(addr.Addr) {
		return nil, dialErr(addr.Addr)
	}
	c, err := t.NodeAwareTransport.DialAddressTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	return t.f.track(addr.Addr, c)
}

// Shutdown stops the packet filter, then the inner transport. The inner
// transport's listener may be blocked handing over a packet that nobody
// reads any more, and its Shutdown waits for that listener, so packets are
// drained and dropped until it has returned.
func (t *transport) Shutdown() error {
	t.stopOnce.Do(func() { close(t.stop) })
	t.wg.Wait()
	done := make(chan struct{})
	go func() {
		in := t.NodeAwareTransport.PacketCh()
		for {
			select {
			case <-in:
			case <-done:
				return
			}
		}
	}()
	err := t.NodeAwareTransport.Shutdown()
	close(done)
	return err
}
