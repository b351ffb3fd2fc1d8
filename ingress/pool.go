package ingress

import (
	"context"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// dialTimeout bounds one connection attempt to a task, after which the
// proxy tries another: a task's node that has gone silent must not hold a
// client for long.
const dialTimeout = 3 * time.Second

// backend is one task's address in a pool. Its counts and its kept-alive
// connections last across the pool's updates for as long as the pool
// holds the same task at the same address.
type backend struct {
	task, addr string
	// active counts the requests (http) or connections (tcp) the proxy
	// has open to it, for least-connections balancing.
	active atomic.Int64
	// transport holds the kept-alive connections of an http pool's
	// backend, so that a backend that leaves can drop its idle ones
	// without touching the others'.
	transport *http.Transport
}

// pool is the backends of one route. Its backends slice is replaced,
// never changed, so that pick may read it while update swaps in another;
// pick, release and update are safe for concurrent use. One backend object
// is kept per task address across updates, so that its counts and its
// kept-alive connections carry over.
type pool struct {
	balancing string
	// forHTTP pools give each backend a transport of its own.
	forHTTP  bool
	backends atomic.Pointer[[]*backend]
	next     atomic.Uint64

	mu   sync.Mutex // guards byID, and orders updates
	byID map[Target]*backend
}

func newPool(balancing string, forHTTP bool) *pool {
	p := &pool{balancing: balancing, forHTTP: forHTTP, byID: map[Target]*backend{}}
	p.backends.Store(&[]*backend{})
	return p
}

// pick returns a backend that is not in tried: the next in turn for round
// robin, or the one with fewest open requests or connections (the next in
// turn among equals). It returns nil when every backend has been tried or
// there are none. The caller must release what it picked.
func (p *pool) pick(tried []*backend) *backend {
	bs := *p.backends.Load()
	if len(bs) == 0 {
		return nil
	}
	start := int(p.next.Add(1) % uint64(len(bs)))
	var best *backend
	for i := range bs {
		b := bs[(start+i)%len(bs)]
		if slices.Contains(tried, b) {
			continue
		}
		if p.balancing != structs.BalanceLeastConnections {
			best = b
			break
		}
		if best == nil || b.active.Load() < best.active.Load() {
			best = b
		}
	}
	if best != nil {
		best.active.Add(1)
	}
	return best
}

// release ends one request or connection that pick counted.
func (b *backend) release() { b.active.Add(-1) }

// dialError marks a failure to reach a backend at all: nothing of the
// request has left the proxy, so another backend may be tried.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

var dialer = &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}

// dial connects to a backend, marking a failure as a dialError.
func dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &dialError{err}
	}
	return c, nil
}

// newTransport is an http backend's own transport. Its idle connections
// time out soon, so that those a departed backend's last requests return
// do not linger. It sets no time limit on an answer: long polls and
// streams take as long as the task takes, as they would without the proxy.
// It never compresses, so that the task's bytes pass as they are.
func newTransport() *http.Transport {
	return &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second, DisableCompression: true}
}

// update makes the pool's backends those of targets, and closes the idle
// connections of backends that left: a task that leaves gets no new
// requests or connections, and its open ones finish on their own.
func (p *pool) update(targets []Target) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := map[Target]bool{}
	bs := make([]*backend, 0, len(targets))
	for _, t := range targets {
		b := p.byID[t]
		if b == nil {
			b = &backend{task: t.Task, addr: t.Addr}
			if p.forHTTP {
				b.transport = newTransport()
			}
			p.byID[t] = b
		}
		keep[t] = true
		bs = append(bs, b)
	}
	p.backends.Store(&bs)
	for t, b := range p.byID {
		if !keep[t] {
			delete(p.byID, t)
			if b.transport != nil {
				b.transport.CloseIdleConnections()
			}
		}
	}
}

// close empties the pool and drops every backend's idle connections.
func (p *pool) close() { p.update(nil) }
