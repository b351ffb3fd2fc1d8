package ingress

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/skiff-run/skiff/structs"
)

// named is a backend that answers with its name, the headers that say who
// the client is, and the host and path it was asked for.
func named(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s host=%s path=%s xff=%s proto=%s fwd=%s body=%s", name, r.Host, r.URL.Path,
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("Forwarded"), body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPlanTakesHealthyTasksOfTheBalancedPort(t *testing.T) {
	v := &fakeView{}
	v.addService("web", structs.LoadBalancer{ListenerPort: 80, Hostnames: []string{"web.test"}})
	v.addService("api", structs.LoadBalancer{ListenerPort: 80, PathPrefix: "/api"})
	v.addService("db", structs.LoadBalancer{ListenerPort: 5432, Protocol: structs.ProtocolTCP, ProxyProtocol: true})
	v.addService("plain")
	v.addTask("web", "w1", 20000)
	stopping := v.addTask("web", "w2", 20001)
	stopping.DesiredStatus = structs.StatusStopped
	young := v.addTask("api", "a1", 20002)
	young.StartedAt = time.Now().UnixMilli()
	v.addTask("db", "d1", 20003)
	v.addTask("plain", "p1", 20004)

	plan, until := Plan(v, time.Now())
	if len(plan) != 2 || plan[80].Protocol != "http" || plan[5432].Protocol != "tcp" {
		t.Fatalf("plan %+v: want http on 80 and tcp on 5432", plan)
	}
	var got []string
	for _, r := range plan[80].Routes {
		got = append(got, fmt.Sprintf("%s %v %q %v", r.Service, r.Hostnames, r.PathPrefix, r.Backends))
	}
	want := []string{`api [] "/api" []`, `web [web.test] "" [{w1 127.0.0.1:20000}]`}
	if !slices.Equal(got, want) {
		t.Errorf("routes of port 80:\n%q\nwant\n%q", got, want)
	}
	if r := plan[5432].Routes; len(r) != 1 || !r[0].ProxyProtocol || len(r[0].Backends) != 1 || r[0].Backends[0].Addr != "127.0.0.1:20003" {
		t.Errorf("routes of port 5432: %+v", r)
	}
	if until.IsZero() || time.Until(until) > 6*time.Second {
		t.Errorf("until %v: want the time task a1 turns healthy", until)
	}
}

func TestPathMatchesWholeSegments(t *testing.T) {
	for _, tc := range []struct {
		prefix, path string
		want         bool
	}{{"", "/", true}, {"", "/x", true}, {"/api", "/api", true}, {"/api", "/api/v1", true}, {"/api", "/apix", false}, {"/api", "/", false}} {
		if got := pathMatches(tc.prefix, tc.path); got != tc.want {
			t.Errorf("pathMatches(%q, %q) = %v, want %v", tc.prefix, tc.path, got, tc.want)
		}
	}
}

// Two services share a listener, routed by Host and by path; a request
// that no route takes gets a 404 naming what it asked for.
func TestHTTPRoutesByHostAndPath(t *testing.T) {
	a, b, admin := named(t, "a"), named(t, "b"), named(t, "admin")
	port := freePort(t)
	v := &fakeView{}
	v.addService("a", structs.LoadBalancer{ListenerPort: port, Hostnames: []string{"a.test"}})
	v.addService("b", structs.LoadBalancer{ListenerPort: port, Hostnames: []string{"b.test"}})
	v.addService("admin", structs.LoadBalancer{ListenerPort: port, Hostnames: []string{"a.test"}, PathPrefix: "/admin"})
	v.addTask("a", "ta", portOf(t, a.Listener.Addr().String()))
	v.addTask("b", "tb", portOf(t, b.Listener.Addr().String()))
	v.addTask("admin", "tadmin", portOf(t, admin.Listener.Addr().String()))
	g := runIngress(t, newSource(v))
	waitFor(t, "the listener", func() bool { return len(g.Ports()) == 1 })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, tc := range []struct{ host, path, want string }{
		{"a.test", "/", "a host=a.test path=/"},
		{"A.Test:8080", "/x", "a host=A.Test:8080 path=/x"},
		{"b.test", "/admin", "b host=b.test path=/admin"},
		{"a.test", "/admin/users", "admin host=a.test path=/admin/users"},
		{"a.test", "/administrator", "a host=a.test path=/administrator"},
	} {
		code, body := get(t, url+tc.path, tc.host)
		if code != 200 || !strings.HasPrefix(body, tc.want) {
			t.Errorf("%s%s: %d %q, want %q", tc.host, tc.path, code, body, tc.want)
		}
	}
	if code, body := get(t, url+"/", "c.test"); code != 404 || !strings.Contains(body, `host "c.test"`) {
		t.Errorf("unrouted host: %d %q", code, body)
	}
}

// The task learns the client's address from X-Forwarded-For and
// Forwarded, which a client cannot forge, and the scheme it used.
func TestHTTPTellsTheClientsAddress(t *testing.T) {
	backend := named(t, "web")
	port := freePort(t)
	v := &fakeView{}
	v.addService("web", structs.LoadBalancer{ListenerPort: port})
	v.addTask("web", "t1", portOf(t, backend.Listener.Addr().String()))
	g := runIngress(t, newSource(v))
	waitFor(t, "the listener", func() bool { return len(g.Ports()) == 1 })
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
	req.Host = "web.test"
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("Forwarded", "for=6.6.6.6")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "web host=web.test path=/ xff=127.0.0.1 proto=http fwd=for=127.0.0.1;host=web.test;proto=http"
	if !strings.HasPrefix(string(body), want) {
		t.Fatalf("backend saw %q, want %q", body, want)
	}
}

func TestForwardedQuotesWhatIsNotAToken(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr, r.Host = "[2001:db8::1]:4711", "[2001:db8::2]:80"
	if got, want := forwarded(r), `for="[2001:db8::1]";host="[2001:db8::2]:80";proto=http`; got != want {
		t.Fatalf("Forwarded %q, want %q", got, want)
	}
	// A Host that HTTP allows cannot smuggle in a parameter.
	r.RemoteAddr, r.Host = "192.0.2.1:4711", `a;for=6.6.6.6,for="x"`
	if got, want := forwarded(r), `for=192.0.2.1;host="a;for=6.6.6.6,for=\"x\"";proto=http`; got != want {
		t.Fatalf("Forwarded %q, want %q", got, want)
	}
}

// A task that cannot be reached costs no request: each goes on to the
// other, its body whole.
func TestHTTPRetriesAnotherTaskOnConnectionFailure(t *testing.T) {
	backend := named(t, "up")
	port := freePort(t)
	v := &fakeView{}
	v.addService("web", structs.LoadBalancer{ListenerPort: port})
	v.addTask("web", "down", freePort(t))
	v.addTask("web", "up", portOf(t, backend.Listener.Addr().String()))
	g := runIngress(t, newSource(v))
	waitFor(t, "the listener", func() bool { return len(g.Ports()) == 1 })
	for i := range 10 {
		body := fmt.Sprintf("payload-%d", i)
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/", port), "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(got), "up ") || !strings.HasSuffix(string(got), "body="+body) {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, got)
		}
	}
	// With no task left that answers, the client hears why.
	v2 := &fakeView{}
	v2.addService("web", structs.LoadBalancer{ListenerPort: port})
	v2.addTask("web", "down", freePort(t))
	g.cfg.Source.(*fakeSource).set(v2)
	waitFor(t, "a 502", func() bool { code, _ := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port), "x"); return code == 502 })
	v3 := &fakeView{}
	v3.addService("web", structs.LoadBalancer{ListenerPort: port})
	g.cfg.Source.(*fakeSource).set(v3)
	waitFor(t, "a 503", func() bool {
		code, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port), "x")
		return code == 503 && strings.Contains(body, "service web has no healthy task")
	})
}

// A task that leaves the pool gets no new requests, and the one it is
// answering finishes.
func TestHTTPDrainsATaskThatLeaves(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		io.WriteString(w, "old")
	}))
	defer slow.Close()
	fresh := named(t, "new")
	port := freePort(t)
	v := &fakeView{}
	v.addService("web", structs.LoadBalancer{ListenerPort: port})
	v.addTask("web", "old", portOf(t, slow.Listener.Addr().String()))
	src := newSource(v)
	g := runIngress(t, src)
	waitFor(t, "the listener", func() bool { return len(g.Ports()) == 1 })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)

	type result struct {
		code int
		body string
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Get(url + "/slow")
		if err != nil {
			inflight <- result{body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- result{resp.StatusCode, string(b)}
	}()
	<-started

	v2 := &fakeView{}
	v2.addService("web", structs.LoadBalancer{ListenerPort: port})
	v2.addTask("web", "new", portOf(t, fresh.Listener.Addr().String()))
	src.set(v2)
	waitFor(t, "the new task", func() bool { _, body := get(t, url+"/", "x"); return strings.HasPrefix(body, "new ") })
	for range 20 {
		if _, body := get(t, url+"/", "x"); !strings.HasPrefix(body, "new ") {
			t.Fatalf("a request reached the task that left: %q", body)
		}
	}
	close(release)
	if r := <-inflight; r.code != 200 || r.body != "old" {
		t.Fatalf("the request in flight when its task left: %d %q", r.code, r.body)
	}
}

func TestLeastConnectionsPicksTheLeastBusy(t *testing.T) {
	p := newPool(structs.BalanceLeastConnections, false)
	p.update([]Target{{"a", "a:1"}, {"b", "b:1"}, {"c", "c:1"}})
	held := []*backend{p.pick(nil), p.pick(nil)}
	if held[0] == held[1] {
		t.Fatalf("two picks of three idle backends chose %s twice", held[0].task)
	}
	for range 5 {
		b := p.pick(nil)
		if slices.Contains(held, b) {
			t.Fatalf("picked busy %s beside an idle backend", b.task)
		}
		b.release()
	}
	rr := newPool(structs.BalanceRoundRobin, false)
	rr.update([]Target{{"a", "a:1"}, {"b", "b:1"}})
	seen := map[string]int{}
	for range 10 {
		b := rr.pick(nil)
		seen[b.task]++
		b.release()
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Fatalf("round robin over two: %v", seen)
	}
	if b := rr.pick([]*backend{(*rr.backends.Load())[0], (*rr.backends.Load())[1]}); b != nil {
		t.Fatalf("picked %s after every backend was tried", b.task)
	}
}

// A tcp listener splices to its task and, with proxyProtocol, first sends
// a PROXY protocol v2 header, byte for byte as the spec lays it out, with
// the client's address.
func TestTCPSendsTheProxyProtocolHeader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	headers := make(chan []byte, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// Signature (12), version and command, family and
				// transport, length (2), then 12 bytes of IPv4
				// addresses and ports.
				h := make([]byte, 16+12)
				if _, err := io.ReadFull(c, h); err != nil {
					return
				}
				headers <- h
				io.Copy(c, c)
			}()
		}
	}()
	port := freePort(t)
	v := &fakeView{}
	v.addService("db", structs.LoadBalancer{ListenerPort: port, Protocol: structs.ProtocolTCP, ProxyProtocol: true})
	v.addTask("db", "t1", portOf(t, ln.Addr().String()))
	g := runIngress(t, newSource(v))
	waitFor(t, "the listener", func() bool { return len(g.Ports()) == 1 })
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := <-headers
	client := c.LocalAddr().(*net.TCPAddr)
	want := []byte("\r\n\r\n\x00\r\nQUIT\n")
	want = append(want, 0x21, 0x11, 0, 12, 127, 0, 0, 1, 127, 0, 0, 1)
	want = binary.BigEndian.AppendUint16(want, uint16(client.Port))
	want = binary.BigEndian.AppendUint16(want, uint16(port))
	if !bytes.Equal(h, want) {
		t.Fatalf("PROXY header\n% x\nwant\n% x", h, want)
	}
	parsed, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(h)))
	if err != nil || parsed.SourceAddr.String() != client.String() {
		t.Fatalf("the header parses as %v, %v: want source %s", parsed, err, client)
	}
	// The bytes after it are the client's, both ways, and a half close
	// still lets the answer through.
	io.WriteString(c, "hello")
	c.(*net.TCPConn).CloseWrite()
	got, _ := io.ReadAll(c)
	if string(got) != "hello" {
		t.Fatalf("echo %q, want hello", got)
	}
}

// A tcp connection whose first task cannot be reached goes to another.
func TestTCPRetriesAnotherTask(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "up")
			c.Close()
		}
	}()
	port := freePort(t)
	v := &fakeView{}
	v.addService("db", structs.LoadBalancer{ListenerPort: port, Protocol: structs.ProtocolTCP})
	v.addTask("db", "down", freePort(t))
	v.addTask("db", "up", portOf(t, ln.Addr().String()))
	g := runIngress(t, newSource(v))
	waitFor(t, "the listener", func() bool { return len(g.Ports()) == 1 })
	for range 6 {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(c)
		c.Close()
		if string(got) != "up" {
			t.Fatalf("got %q, want up", got)
		}
	}
}

// Listeners open as services name their ports and close when none does,
// letting a connection that is open finish; a port taken by someone else
// is retried until it frees.
func TestListenersFollowTheState(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	port := freePort(t)
	v := &fakeView{}
	v.addService("db", structs.LoadBalancer{ListenerPort: port, Protocol: structs.ProtocolTCP})
	v.addTask("db", "t1", portOf(t, echo.Addr().String()))
	// Someone else holds the port at first.
	squatter, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	src := newSource(v)
	g := runIngress(t, src)
	time.Sleep(200 * time.Millisecond)
	if len(g.Ports()) != 0 {
		t.Fatal("a listener opened on a port someone else holds")
	}
	squatter.Close()
	waitFor(t, "the listener once the port is free", func() bool { return len(g.Ports()) == 1 })

	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "a")
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	src.set(&fakeView{})
	waitFor(t, "the listener to close", func() bool { return len(g.Ports()) == 0 })
	waitFor(t, "the port to refuse", func() bool {
		c2, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c2.Close()
		}
		return err != nil
	})
	// The connection open when the service went still works.
	io.WriteString(c, "b")
	if _, err := io.ReadFull(c, buf); err != nil || buf[0] != 'b' {
		t.Fatalf("the open connection broke when its listener closed: %v %q", err, buf)
	}
}

// A task whose connections break before it answers (as behind an engine's
// port proxy once its container died) costs no GET, which goes on to
// another task, but a POST, which that task may have acted on, fails.
func TestHTTPRetriesOnlySafeRequestsAfterABrokenConnection(t *testing.T) {
	broken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer broken.Close()
	go func() {
		for {
			c, err := broken.Accept()
			if err != nil {
				return
			}
			c.Read(make([]byte, 1))
			c.Close()
		}
	}()
	backend := named(t, "up")
	port := freePort(t)
	v := &fakeView{}
	v.addService("web", structs.LoadBalancer{ListenerPort: port})
	v.addTask("web", "broken", portOf(t, broken.Addr().String()))
	v.addTask("web", "up", portOf(t, backend.Listener.Addr().String()))
	g := runIngress(t, newSource(v))
	waitFor(t, "the listener", func() bool { return len(g.Ports()) == 1 })
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for range 6 {
		if code, body := get(t, url, "x"); code != 200 || !strings.HasPrefix(body, "up ") {
			t.Fatalf("GET: %d %q", code, body)
		}
	}
	failed := 0
	for range 6 {
		resp, err := http.Post(url, "text/plain", strings.NewReader("once"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusBadGateway {
			failed++
		}
	}
	if failed != 3 {
		t.Fatalf("%d of 6 POSTs failed: want the 3 that round robin sent to the broken task", failed)
	}
}

// A port whose protocol changes is served by the new listener at once:
// the old one lets go of the socket before it drains.
func TestListenerChangesProtocol(t *testing.T) {
	backend := named(t, "web")
	port := freePort(t)
	v := &fakeView{}
	v.addService("web", structs.LoadBalancer{ListenerPort: port})
	v.addTask("web", "t1", portOf(t, backend.Listener.Addr().String()))
	src := newSource(v)
	g := New(Config{Bind: "127.0.0.1", Source: src, Grace: 10 * time.Second, Retry: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the http listener", func() bool { return len(g.Ports()) == 1 })
	if code, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port), "x"); code != 200 {
		t.Fatalf("http: %d %q", code, body)
	}

	v2 := &fakeView{}
	v2.addService("web", structs.LoadBalancer{ListenerPort: port, Protocol: structs.ProtocolTCP})
	v2.addTask("web", "t1", portOf(t, backend.Listener.Addr().String()))
	src.set(v2)
	// With retries an hour apart, only an open on the first try serves.
	waitFor(t, "the tcp listener", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return false
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.0\r\nHost: raw\r\n\r\n")
		b, _ := io.ReadAll(c)
		// Spliced, the request reaches the task as the client sent it,
		// with no forwarded headers.
		return strings.Contains(string(b), "web host=raw path=/ xff= ")
	})
}
