package api

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestPeerTransportSpeaksHTTP1: calls between agents use HTTP/1.1 even
// with a server that offers HTTP/2, so that a request that gives up closes
// its connection instead of leaving the next ones on a dead one.
func TestPeerTransportSpeaksHTTP1(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	tr := PeerTransport()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 1 {
		t.Fatalf("a peer call spoke %s", resp.Proto)
	}
	h2, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	h2.Body.Close()
	if h2.ProtoMajor != 2 {
		t.Fatalf("the test server does not offer HTTP/2 (%s), so the check above proves nothing", h2.Proto)
	}
}
