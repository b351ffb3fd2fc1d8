package pki

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/token"
)

// served is the client's side of a handshake the server accepted: the
// helper's server ends a connection without a client certificate at once,
// which the client reads as the end of the stream, while a refusal is an
// alert.
func served(err error) bool { return err == nil || errors.Is(err, io.EOF) }

// TestServerTLS: the API asks for a client certificate without needing
// one, and refuses a certificate of another cluster.
func TestServerTLS(t *testing.T) {
	s, _ := token.Generate()
	ca := mustCA(t, s)
	n1, err := ca.NewNode("node-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	n2, _ := ca.NewNode("node-2", time.Hour)
	if err, id := handshake(t, n1.ServerTLS(), n2.MutualTLS()); err != nil || id != "node-2" {
		t.Fatalf("a node of the cluster: %v, server saw %q", err, id)
	}
	cli, err := ClientTLS(ca.PEM())
	if err != nil {
		t.Fatal(err)
	}
	if err, id := handshake(t, n1.ServerTLS(), cli); !served(err) || id != "" {
		t.Fatalf("a client without a certificate: %v, server saw %q", err, id)
	}
	other, _ := token.Generate()
	intruder, _ := mustCA(t, other).NewNode("intruder", time.Hour)
	if err, id := handshake(t, n1.ServerTLS(), intruder.MutualTLS()); err == nil || id != "" {
		t.Fatalf("another cluster's certificate was accepted: %v %q", err, id)
	}
}

// TestClientTLS: a client that pins the CA talks to the cluster's agents
// whatever address it dialled, and to no one else.
func TestClientTLS(t *testing.T) {
	s, _ := token.Generate()
	ca := mustCA(t, s)
	n, _ := ca.NewNode("node-1", time.Hour)
	cli, err := ClientTLS(ca.PEM())
	if err != nil {
		t.Fatal(err)
	}
	// The handshake dials 127.0.0.1, which the certificate does not name.
	if err, _ := handshake(t, n.ServerTLS(), cli); !served(err) {
		t.Fatalf("the cluster's agent: %v", err)
	}
	other, _ := token.Generate()
	foreign, _ := mustCA(t, other).NewNode("node-1", time.Hour)
	if err, _ := handshake(t, foreign.ServerTLS(), cli); err == nil || !strings.Contains(err.Error(), "not of the trusted cluster CA") {
		t.Fatalf("an agent of another cluster: %v", err)
	}
	both, err := ClientTLS(append(mustCA(t, other).PEM(), ca.PEM()...))
	if err != nil {
		t.Fatal(err)
	}
	if err, _ := handshake(t, n.ServerTLS(), both); !served(err) {
		t.Fatalf("a bundle of two CAs: %v", err)
	}
	leaf, _ := n.Certificate()
	for name, in := range map[string]string{
		"empty":     "",
		"not PEM":   "hello",
		"a leaf":    string(pemOf(leaf.Certificate[0])),
		"corrupted": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	} {
		if _, err := ClientTLS([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ClientTLS(nil); err == nil || !strings.Contains(err.Error(), "ca.pem") {
		t.Fatalf("no certificate: %v", err)
	}
}

func TestCAPEMRoundTrip(t *testing.T) {
	s, _ := token.Generate()
	ca := mustCA(t, s)
	n, _ := ca.NewNode("node-1", time.Hour)
	if n.CA() != ca {
		t.Fatal("a node's CA is not the one that issued it")
	}
	if !strings.HasPrefix(string(ca.PEM()), "-----BEGIN CERTIFICATE-----\n") {
		t.Fatalf("PEM: %q", ca.PEM())
	}
}

func pemOf(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}) }

// TestServerTLSWithBrowser: a client that cannot check Ed25519, as no web
// browser can, gets the browser certificate; agents and command lines keep
// getting the node certificate, which names the node.
func TestServerTLSWithBrowser(t *testing.T) {
	s, _ := token.Generate()
	ca := mustCA(t, s)
	n, _ := ca.NewNode("node-1", time.Hour)
	browser, err := BrowserCertificate([]string{"127.0.0.1", "pi4", "", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := browser.Leaf.DNSNames; len(got) != 1 || got[0] != "pi4" || len(browser.Leaf.IPAddresses) != 1 {
		t.Fatalf("names %v %v, want pi4 and 127.0.0.1", got, browser.Leaf.IPAddresses)
	}
	if fp := Fingerprint(browser); len(fp) != 32*3-1 || strings.Count(fp, ":") != 31 {
		t.Fatalf("fingerprint %q", fp)
	}
	cfg := n.ServerTLSWithBrowser(browser)
	chrome := &tls.ClientHelloInfo{SupportedVersions: []uint16{tls.VersionTLS13}, SupportedCurves: []tls.CurveID{tls.X25519, tls.CurveP256},
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256, tls.PKCS1WithSHA256}}
	got, err := cfg.GetCertificate(chrome)
	if err != nil || got.Leaf != browser.Leaf {
		t.Fatalf("a browser got %v (%v), want the browser certificate", got, err)
	}
	// Through a real handshake, Go's client takes Ed25519 and sees the
	// node certificate.
	cli, err := ClientTLS(ca.PEM())
	if err != nil {
		t.Fatal(err)
	}
	if err, _ := handshake(t, cfg, cli); !served(err) {
		t.Fatalf("a command line: %v", err)
	}
	if err, id := handshake(t, cfg, n.MutualTLS()); err != nil || id != "node-1" {
		t.Fatalf("an agent: %v, server saw %q", err, id)
	}
}
