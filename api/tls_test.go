package api

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/token"
)

// serveTLS serves h over TLS with cfg, as an agent with a cluster secret
// does, and returns the address.
func serveTLS(t *testing.T, h http.Handler, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Refused handshakes are what the tests make; they need no log.
	srv := &http.Server{Handler: h, TLSConfig: cfg, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// cluster is a CA and two of its nodes.
func cluster(t *testing.T) (ca *pki.CA, n1, n2 *pki.Node) {
	t.Helper()
	s, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if ca, err = pki.ClusterCA(s); err != nil {
		t.Fatal(err)
	}
	if n1, err = ca.NewNode("node-1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if n2, err = ca.NewNode("node-2", time.Hour); err != nil {
		t.Fatal(err)
	}
	return ca, n1, n2
}

// post sends a forwarded command as an agent does, with the given TLS
// configuration, and returns the status.
func post(t *testing.T, addr string, cfg *tls.Config, bearer string) (int, error) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+InternalApplyPath, strings.NewReader("\x02{}"))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestInternalApplyByCertificate: only a node certificate of the cluster
// reaches the internal apply, and the backend learns which node it names;
// a certificate of another cluster gets no answer at all, and a token,
// even a management one, is not a node.
func TestInternalApplyByCertificate(t *testing.T) {
	ca, n1, n2 := cluster(t)
	f := newFake()
	f.internalResult = "ok"
	access := map[string]Access{"write": AccessWrite}
	addr := serveTLS(t, NewHandler(f, (&logBuffer{}).logger(), Options{Authorize: func(tok string) Access { return access[tok] }}), n1.ServerTLS())

	if status, err := post(t, addr, n2.MutualTLS(), ""); err != nil || status != 200 {
		t.Fatalf("node-2's certificate: %d %v", status, err)
	}
	cli, err := pki.ClientTLS(ca.PEM())
	if err != nil {
		t.Fatal(err)
	}
	if status, err := post(t, addr, cli, "write"); err != nil || status != 403 {
		t.Fatalf("a management token without a certificate: %d %v", status, err)
	}
	_, _, foreign := cluster(t)
	if status, err := post(t, addr, foreign.MutualTLS(), "write"); err == nil {
		t.Fatalf("another cluster's node got an answer: %d", status)
	}
	if got, want := f.recorded(), []string{`ApplyInternal from node-2 "\x02{}"`}; !slices.Equal(got, want) {
		t.Fatalf("backend calls %q, want %q", got, want)
	}
}

// TestClientTLS: the CLI's client reads through a pinned CA, refuses an
// agent of another cluster, and says what to do when it speaks plain
// http to an agent that serves https.
func TestClientTLS(t *testing.T) {
	ca, n1, _ := cluster(t)
	addr := serveTLS(t, NewHandler(newFake(), (&logBuffer{}).logger(), Options{}), n1.ServerTLS())
	cli, err := pki.ClientTLS(ca.PEM())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := NewClient(addr, cli).Nodes(ctx); err != nil {
		t.Fatalf("a bare address with the CA: %v", err)
	}
	if _, err := NewClient("https://"+addr, cli).Nodes(ctx); err != nil {
		t.Fatalf("https with the CA: %v", err)
	}
	// The transports work on copies: a configuration shared by several
	// clients keeps its own protocols.
	if len(cli.NextProtos) != 0 {
		t.Fatalf("the client changed the caller's configuration: %q", cli.NextProtos)
	}
	otherCA, _, _ := cluster(t)
	other, _ := pki.ClientTLS(otherCA.PEM())
	if _, err := NewClient(addr, other).Nodes(ctx); err == nil || !strings.Contains(err.Error(), "not of the trusted cluster CA") {
		t.Fatalf("a client that trusts another CA: %v", err)
	}
	for _, c := range []*Client{NewClient(addr, nil), NewClient("http://"+addr, cli)} {
		_, err := c.Nodes(ctx)
		var e *Error
		if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), "serves https") || !strings.Contains(err.Error(), "SKIFF_CACERT") {
			t.Fatalf("plain http to https: %v", err)
		}
	}
	plain := serve(t, newFake(), &logBuffer{})
	if _, err := NewClient(strings.Replace(plain.URL, "http://", "https://", 1), cli).Nodes(ctx); err == nil || !strings.Contains(err.Error(), "serves plain http") {
		t.Fatalf("https to plain http: %v", err)
	}
}

// TestForwardingOverMutualTLS: a follower passes a user's request to the
// leader over https, showing its own node certificate.
func TestForwardingOverMutualTLS(t *testing.T) {
	_, n1, n2 := cluster(t)
	seen := make(chan string, 1)
	leader := serveTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- PeerNode(r)
		w.WriteHeader(http.StatusCreated)
	}), n1.ServerTLS())
	f := newFake()
	f.leader, f.leaderAPI = false, leader
	srv := httptest.NewServer(NewHandler(f, (&logBuffer{}).logger(), Options{PeerTLS: n2.MutualTLS()}))
	defer srv.Close()
	a := send(t, srv.URL, "DELETE", "/v1/services/web", "", nil)
	if a.status != http.StatusCreated {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if id := <-seen; id != "node-2" {
		t.Fatalf("the leader saw %q", id)
	}
}
