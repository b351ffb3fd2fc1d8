package pki

import (
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
