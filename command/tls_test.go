package command

import (
	"crypto/tls"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/token"
)

// tlsAPI is the fake API served over https with a node certificate of a
// new cluster, as an agent with a cluster token serves it; caPEM is that
// cluster's CA certificate, and hostPort the address without a scheme.
func tlsAPI(t *testing.T) (f *fakeAPI, hostPort string, caPEM []byte) {
	t.Helper()
	ca := newCA(t)
	cert, err := ca.Issue("node-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f = &fakeAPI{answers: map[string]answer{"GET /v1/services": ok(servicesJSON)}}
	srv := httptest.NewUnstartedServer(f)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	// Refused handshakes are what some tests make; they need no log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f, strings.TrimPrefix(srv.URL, "https://"), ca.PEM()
}

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	s, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.ClusterCA(s)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCACert: the client checks an https agent against the CA of
// --cacert, of SKIFF_CACERT, or of ./skiff-data/ca.pem, and an address
// without a scheme is https once a CA is known.
func TestCACert(t *testing.T) {
	t.Setenv("SKIFF_CACERT", "")
	f, hostPort, caPEM := tlsAPI(t)
	dir := t.TempDir()
	t.Chdir(dir)
	file := writeFile(t, filepath.Join(dir, "cluster-ca.pem"), caPEM)

	wantOK(t, skiff("", "--addr", hostPort, "--cacert", file, "services"))
	wantOK(t, skiff("", "--addr", "https://"+hostPort, "--cacert", file, "services"))
	t.Setenv("SKIFF_CACERT", file)
	wantOK(t, skiff("", "--addr", hostPort, "services"))
	t.Setenv("SKIFF_CACERT", "")
	writeFile(t, filepath.Join(dir, "skiff-data", "ca.pem"), caPEM)
	wantOK(t, skiff("", "--addr", hostPort, "services"))
	if got := f.got(); len(got) != 4 {
		t.Fatalf("requests %q, want 4", got)
	}

	// A CA of another cluster is no proof.
	other := writeFile(t, filepath.Join(dir, "other.pem"), newCA(t).PEM())
	r := skiff("", "--addr", hostPort, "--cacert", other, "services")
	if r.code != 1 || !strings.Contains(r.stderr, "not of the trusted cluster CA") {
		t.Errorf("another cluster's CA: exit code %d, stderr %q", r.code, r.stderr)
	}
}

// TestPlainHTTPToAnHTTPSAgent: without a CA a bare address is plain http,
// which an agent with a cluster token does not serve; the error says what
// to give instead.
func TestPlainHTTPToAnHTTPSAgent(t *testing.T) {
	t.Setenv("SKIFF_CACERT", "")
	t.Chdir(t.TempDir())
	_, hostPort, _ := tlsAPI(t)
	for _, addr := range []string{hostPort, "http://" + hostPort} {
		r := skiff("", "--addr", addr, "services")
		if r.code != 1 || !strings.Contains(r.stderr, "serves https") || !strings.Contains(r.stderr, "SKIFF_CACERT") {
			t.Errorf("%s: exit code %d, stderr %q", addr, r.code, r.stderr)
		}
	}
}

// TestBadCACert: a CA certificate that cannot be read or is not one is an
// error naming the file and where it came from.
func TestBadCACert(t *testing.T) {
	t.Setenv("SKIFF_CACERT", "")
	dir := t.TempDir()
	t.Chdir(dir)
	f := clusterAPI(t)
	missing := filepath.Join(dir, "nope.pem")
	garbage := writeFile(t, filepath.Join(dir, "garbage.pem"), []byte("not a certificate\n"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cacert", missing}, "skiff: --cacert: open " + missing + ": no such file or directory\n"},
		{[]string{"--cacert", garbage}, "skiff: --cacert " + garbage + ": no PEM certificate in it"},
	} {
		r := skiffAt(f, append(tc.args, "services")...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, tc.want) {
			t.Errorf("%q: exit code %d, stderr %q; want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	writeFile(t, filepath.Join(dir, "skiff-data", "ca.pem"), []byte("junk"))
	r := skiffAt(f, "services")
	if want := "skiff: the default CA certificate skiff-data/ca.pem: no PEM certificate in it"; r.code != 1 || !strings.HasPrefix(r.stderr, want) {
		t.Errorf("bad default: exit code %d, stderr %q; want %q", r.code, r.stderr, want)
	}
	if len(f.got()) != 0 {
		t.Fatalf("requests with a bad CA certificate: %q", f.got())
	}
}
