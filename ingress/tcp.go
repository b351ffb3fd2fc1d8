package ingress

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/skiff-run/skiff/structs"
)

// tcpRoute is a tcp listener's service: its pool and whether its tasks
// get a PROXY protocol header.
type tcpRoute struct {
	key           string
	proxyProtocol bool
	pool          *pool
}

// tcpListener splices the connections of one tcp listener port to the
// service's tasks. The accept loop and the connections' goroutines read
// route, which update replaces; update and close run on the ingress's
// loop alone.
type tcpListener struct {
	port  int
	log   *slog.Logger
	ln    net.Listener
	route atomic.Pointer[tcpRoute]

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newTCPListener(ln net.Listener, port int, log *slog.Logger) *tcpListener {
	l := &tcpListener{port: port, log: log, ln: ln, conns: map[net.Conn]struct{}{}}
	l.route.Store(&tcpRoute{pool: newPool("", false)})
	l.wg.Add(1)
	go l.serve()
	return l
}

func (l *tcpListener) protocol() string { return structs.ProtocolTCP }

func (l *tcpListener) stopAccepting() { l.ln.Close() }

// update points the listener at spec's one route, keeping its pool when
// the route stays the same.
func (l *tcpListener) update(spec *Listener) {
	old := l.route.Load()
	if len(spec.Routes) == 0 {
		l.route.Store(&tcpRoute{pool: newPool("", false)})
		old.pool.close()
		return
	}
	r := &spec.Routes[0]
	key := routeKey(r)
	if old.key == key && old.proxyProtocol == r.ProxyProtocol {
		old.pool.update(r.Backends)
		return
	}
	nr := &tcpRoute{key: key, proxyProtocol: r.ProxyProtocol, pool: newPool(r.Balancing, false)}
	nr.pool.update(r.Backends)
	l.route.Store(nr)
	old.pool.close()
}

func (l *tcpListener) serve() {
	defer l.wg.Done()
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors, most likely: wait a little, as
			// net/http does, rather than spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.log.Warn("ingress accept failed", "port", l.port, "err", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		l.mu.Lock()
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.wg.Done()
			l.handle(c)
			l.mu.Lock()
			delete(l.conns, c)
			l.mu.Unlock()
		}()
	}
}

// handle connects a client to a task, another when one cannot be reached,
// sends the PROXY header when the route asks for one, and splices the two
// until both sides are done.
func (l *tcpListener) handle(c net.Conn) {
	defer c.Close()
	r := l.route.Load()
	var tried []*backend
	var bc net.Conn
	var b *backend
	for {
		if b = r.pool.pick(tried); b == nil {
			l.log.Debug("ingress connection refused: no task answers", "port", l.port, "client", c.RemoteAddr().String(), "tried", len(tried))
			return
		}
		var err error
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		bc, err = dial(ctx, "tcp", b.addr)
		cancel()
		if err == nil {
			break
		}
		b.release()
		tried = append(tried, b)
	}
	defer b.release()
	defer bc.Close()
	if r.proxyProtocol {
		h := proxyproto.HeaderProxyFromAddrs(2, c.RemoteAddr(), c.LocalAddr())
		if _, err := h.WriteTo(bc); err != nil {
			l.log.Debug("ingress PROXY header not sent", "port", l.port, "task", b.task, "err", err)
			return
		}
	}
	splice(c, bc)
}

// splice copies both ways until both directions end, passing on each
// side's end of stream as a half close, so that a client that shuts its
// sending side still gets the whole answer. Between two TCP connections
// io.Copy splices in the kernel.
func splice(a, b net.Conn) {
	done := make(chan struct{})
	go func() {
		copyHalf(b, a)
		close(done)
	}()
	copyHalf(a, b)
	<-done
}

// copyHalf copies src to dst and then closes dst's sending side, or dst
// altogether when it cannot half close.
func copyHalf(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
		_ = cw.CloseWrite()
		return
	}
	// A failed copy ends the connection both ways.
	dst.Close()
	src.Close()
}

// close stops taking connections and gives open ones until ctx ends to
// finish, then cuts them.
func (l *tcpListener) close(ctx context.Context) {
	l.ln.Close()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		l.mu.Lock()
		for c := range l.conns {
			c.Close()
		}
		l.mu.Unlock()
		<-done
	}
	l.route.Load().pool.close()
}
