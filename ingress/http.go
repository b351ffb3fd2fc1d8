package ingress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// errNoBackends is a route's answer while its service has no healthy task.
var errNoBackends = errors.New("no healthy task")

// httpRoute is one route of an http listener with its pool and proxy. It
// lives as long as its route stays in the state, so that its pool's counts
// and connections carry across updates.
type httpRoute struct {
	pathPrefix string
	pool       *pool
	proxy      *httputil.ReverseProxy
}

// routeTable is an http listener's routes as one request looks them up:
// by host, then the routes without hostnames, each list longest path
// prefix first. It is never changed once published.
type routeTable struct {
	byHost map[string][]*httpRoute
	any    []*httpRoute
}

// match returns the route of a request for host (lower case, without
// port) and path, or nil.
func (t *routeTable) match(host, path string) *httpRoute {
	for _, rs := range [][]*httpRoute{t.byHost[host], t.any} {
		for _, r := range rs {
			if pathMatches(r.pathPrefix, path) {
				return r
			}
		}
	}
	return nil
}

// pathMatches reports whether path lies under prefix a whole segment at a
// time: /api takes /api and /api/x but not /apix. The empty prefix takes
// every path.
func pathMatches(prefix, path string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/'
}

// httpListener serves one http listener port. ServeHTTP may run on any
// number of goroutines; update runs on the ingress's loop alone.
type httpListener struct {
	port   int
	log    *slog.Logger
	ln     net.Listener
	srv    *http.Server
	table  atomic.Pointer[routeTable]
	routes map[string]*httpRoute // by routeKey; the loop's alone
}

// bufferPool lends the proxies their copy buffers, so that a response
// does not cost a fresh 32 KiB.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }

var buffers = &bufferPool{}

func newHTTPListener(ln net.Listener, port int, log *slog.Logger) *httpListener {
	l := &httpListener{port: port, log: log, ln: ln, routes: map[string]*httpRoute{}}
	l.table.Store(&routeTable{byHost: map[string][]*httpRoute{}})
	// Clients get ten seconds to send their headers and two minutes to
	// come back on a kept-alive connection; a body may take as long as it
	// needs, as uploads do.
	l.srv = &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() {
		// stopAccepting closes the listener before Shutdown does, which
		// is the end Serve is meant to have too.
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			log.Error("ingress listener stopped", "port", port, "err", err)
		}
	}()
	return l
}

func routeKey(r *Route) string {
	return r.Service + "\x00" + r.PathPrefix + "\x00" + strings.Join(r.Hostnames, ",") + "\x00" + r.Balancing
}

// update publishes the routes of spec, keeping the pools of routes that
// stay.
func (l *httpListener) update(spec *Listener) {
	t := &routeTable{byHost: map[string][]*httpRoute{}}
	seen := map[string]bool{}
	for i := range spec.Routes {
		r := &spec.Routes[i]
		key := routeKey(r)
		hr := l.routes[key]
		if hr == nil {
			hr = l.newRoute(*r)
			l.routes[key] = hr
		}
		hr.pool.update(r.Backends)
		seen[key] = true
		if len(r.Hostnames) == 0 {
			t.any = append(t.any, hr)
		}
		for _, h := range r.Hostnames {
			t.byHost[h] = append(t.byHost[h], hr)
		}
	}
	longestFirst := func(a, b *httpRoute) int { return len(b.pathPrefix) - len(a.pathPrefix) }
	slices.SortStableFunc(t.any, longestFirst)
	for _, rs := range t.byHost {
		slices.SortStableFunc(rs, longestFirst)
	}
	l.table.Store(t)
	for key, hr := range l.routes {
		if !seen[key] {
			delete(l.routes, key)
			hr.pool.close()
		}
	}
}

func (l *httpListener) newRoute(r Route) *httpRoute {
	hr := &httpRoute{pathPrefix: r.PathPrefix, pool: newPool(r.Balancing, true)}
	hr.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The request keeps its Host; the backend's address is the
			// pool's choice, made per attempt in RoundTrip. The inbound
			// X-Forwarded-* headers are dropped by the proxy before
			// Rewrite, and Forwarded is replaced, so that a client cannot
			// claim another address.
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = pr.In.Host
			pr.SetXForwarded()
			pr.Out.Header.Set("Forwarded", forwarded(pr.In))
		},
		Transport:    hr.pool,
		BufferPool:   buffers,
		ErrorHandler: l.proxyError(r.Service),
	}
	return hr
}

// forwarded is the RFC 7239 Forwarded header of a request: the client's
// address, the host it asked for, and the scheme it used.
func forwarded(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	node := ip
	if strings.Contains(ip, ":") {
		node = `"[` + ip + `]"`
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	return "for=" + node + ";host=" + forwardedValue(r.Host) + ";proto=" + proto
}

// forwardedValue is v as a Forwarded parameter value: bare when it is a
// plain host name, else a quoted string, so that a Host such as
// "a;for=6.6.6.6", which HTTP allows, cannot add a parameter of its own.
func forwardedValue(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == "" {
		return v
	}
	return strconv.Quote(v)
}

// proxyError answers a request no task of service could take: 503 while
// the service has no healthy task, 502 when none of them answered.
func (l *httpListener) proxyError(service string) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		switch {
		case errors.Is(err, errNoBackends):
			http.Error(w, fmt.Sprintf("service %s has no healthy task", service), http.StatusServiceUnavailable)
		case errors.Is(err, context.Canceled):
			// The client went away; nobody reads an answer.
		default:
			l.log.Debug("ingress request failed", "port", l.port, "service", service, "err", err)
			http.Error(w, fmt.Sprintf("no task of service %s answered: %v", service, err), http.StatusBadGateway)
		}
	}
}

// ServeHTTP routes a request by Host and path and proxies it.
func (l *httpListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	hr := l.table.Load().match(host, r.URL.Path)
	if hr == nil {
		http.Error(w, fmt.Sprintf("no service on port %d routes host %q, path %q", l.port, host, r.URL.Path), http.StatusNotFound)
		return
	}
	hr.proxy.ServeHTTP(w, r)
}

// close stops taking connections and gives open requests until ctx ends
// to finish, then cuts them.
func (l *httpListener) close(ctx context.Context) {
	if err := l.srv.Shutdown(ctx); err != nil {
		l.srv.Close()
	}
	for _, hr := range l.routes {
		hr.pool.close()
	}
}

func (l *httpListener) protocol() string { return structs.ProtocolHTTP }

func (l *httpListener) stopAccepting() { l.ln.Close() }

// RoundTrip sends a request to one of the pool's backends, and to another
// when one cannot be reached at all: a failed dial has sent nothing, so
// the request, body included, is still whole. A bodiless GET, HEAD or
// OPTIONS also goes to another backend when its connection breaks before
// an answer (a task killed a moment ago, behind an engine's port proxy
// that still accepts), since asking twice cannot change anything. Any
// other request that fails after it was sent fails, since its backend may
// have acted on it.
func (p *pool) RoundTrip(req *http.Request) (*http.Response, error) {
	var body *unreadBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &unreadBody{rc: req.Body}
	}
	var tried []*backend
	var last error
	for {
		b := p.pick(tried)
		if b == nil {
			if last == nil {
				return nil, errNoBackends
			}
			return nil, last
		}
		out := *req
		u := *req.URL
		u.Host = b.addr
		out.URL = &u
		if body != nil {
			out.Body = body
		}
		resp, err := b.transport.RoundTrip(&out)
		if err == nil {
			resp.Body = countBody(resp.Body, b)
			return resp, nil
		}
		b.release()
		var de *dialError
		again := errors.As(err, &de) && (body == nil || !body.read.Load()) || body == nil && safeMethod(req.Method)
		if !again || req.Context().Err() != nil {
			return nil, err
		}
		tried, last = append(tried, b), err
	}
}

// safeMethod reports whether a request of method changes nothing on the
// server, as RFC 9110 defines it.
func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// unreadBody is a request body that says whether any of it was read, and
// that a failed attempt cannot close: the server closes the inbound body
// once its handler returns.
type unreadBody struct {
	rc   io.ReadCloser
	read atomic.Bool
}

func (b *unreadBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.rc.Read(p)
}

func (b *unreadBody) Close() error { return nil }

// countedBody releases its backend's count once the response is closed.
type countedBody struct {
	io.ReadCloser
	once sync.Once
	b    *backend
}

func (c *countedBody) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(c.b.release)
	return err
}

// countedConn is a countedBody of a switched protocol (a WebSocket), which
// the proxy also writes to.
type countedConn struct {
	*countedBody
	w io.Writer
}

func (c *countedConn) Write(p []byte) (int, error) { return c.w.Write(p) }

func countBody(rc io.ReadCloser, b *backend) io.ReadCloser {
	cb := &countedBody{ReadCloser: rc, b: b}
	if rw, ok := rc.(io.ReadWriteCloser); ok {
		return &countedConn{countedBody: cb, w: rw}
	}
	return cb
}
