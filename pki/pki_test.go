package pki

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/skiff-run/skiff/token"
)

func mustCA(t *testing.T, s token.Secret) *CA {
	t.Helper()
	ca, err := ClusterCA(s)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestEveryAgentDerivesTheSameCA: the CA is a function of the secret.
func TestEveryAgentDerivesTheSameCA(t *testing.T) {
	s, _ := token.Generate()
	other, _ := token.Generate()
	if mustCA(t, s).Digest() != mustCA(t, s).Digest() {
		t.Fatal("two derivations of one secret's CA differ")
	}
	if mustCA(t, s).Digest() == mustCA(t, other).Digest() {
		t.Fatal("two secrets give the same CA")
	}
}

// handshake runs a TLS handshake between a server and a client config
// over loopback TCP (whose buffers a handshake needs: a synchronous pipe
// deadlocks when both sides write an alert) and returns the client's
// error and the id the server saw.
func handshake(t *testing.T, server, client *tls.Config) (error, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	seen := make(chan string, 1)
	go func() {
		c := tls.Server(a, server)
		if c.Handshake() == nil && len(c.ConnectionState().PeerCertificates) > 0 {
			seen <- c.ConnectionState().PeerCertificates[0].Subject.CommonName
			return
		}
		seen <- ""
		a.Close()
	}()
	c := tls.Client(b, client)
	err = c.Handshake()
	if err == nil {
		// TLS 1.3 reports the server's refusal of a client certificate
		// on the first read.
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, rerr := c.Read(make([]byte, 1))
		if ne, ok := rerr.(net.Error); !ok || !ne.Timeout() {
			err = rerr
		}
	}
	// The client's end closes first, so that a server still waiting on
	// a client that gave up sees the end of its handshake.
	b.Close()
	return err, <-seen
}

func TestMutualTLS(t *testing.T) {
	s, _ := token.Generate()
	ca := mustCA(t, s)
	n1, err := ca.NewNode("node-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	n2, _ := ca.NewNode("node-2", time.Hour)
	if err, id := handshake(t, n1.MutualTLS(), n2.MutualTLS()); err != nil || id != "node-2" {
		t.Fatalf("two nodes of one cluster: %v, server saw %q", err, id)
	}
	other, _ := token.Generate()
	foreign := mustCA(t, other)
	intruder, _ := foreign.NewNode("intruder", time.Hour)
	if err, id := handshake(t, n1.MutualTLS(), intruder.MutualTLS()); err == nil || id != "" {
		t.Fatalf("another cluster's node was accepted: %v %q", err, id)
	}
	noCert := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	if err, id := handshake(t, n1.MutualTLS(), noCert); err == nil || id != "" {
		t.Fatalf("a client without a certificate was accepted: %v %q", err, id)
	}
	expired, _ := ca.Issue("old", -time.Minute)
	old := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, Certificates: []tls.Certificate{expired}}
	if err, _ := handshake(t, n1.MutualTLS(), old); err == nil {
		t.Fatal("an expired certificate was accepted")
	}
}

// TestCertificateRenewal: a certificate with a third of its life left is
// replaced by a new one; a younger one is kept.
func TestCertificateRenewal(t *testing.T) {
	s, _ := token.Generate()
	n, err := mustCA(t, s).NewNode("node-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := n.Certificate()
	if again, _ := n.Certificate(); again != first {
		t.Fatal("a fresh certificate was renewed")
	}
	n.mu.Lock()
	n.cert.Leaf.NotAfter = time.Now().Add(10 * time.Minute)
	n.mu.Unlock()
	renewed, _ := n.Certificate()
	if renewed == first || time.Until(renewed.Leaf.NotAfter) < 50*time.Minute || renewed.Leaf.Subject.CommonName != "node-1" {
		t.Fatalf("renewal: %v", renewed.Leaf.NotAfter)
	}
}

// TestRotation: during a rotation a node that has moved to the next CA and
// one that has not yet accept each other; an agent that holds only the
// next secret is accepted by the moved node; once the moved node retires
// the old CA, a certificate of the old CA (what the old token gives) is
// refused.
func TestRotation(t *testing.T) {
	oldSecret, _ := token.Generate()
	newSecret, _ := token.Generate()
	oldCA, newCA := mustCA(t, oldSecret), mustCA(t, newSecret)
	moved, _ := oldCA.NewNode("moved", time.Hour)
	behind, _ := oldCA.NewNode("behind", time.Hour)
	if err := moved.Rotate(newCA); err != nil {
		t.Fatal(err)
	}
	if moved.CA() != newCA {
		t.Fatal("the rotated node's issuer is not the next CA")
	}
	if err, id := handshake(t, behind.MutualTLS(), moved.MutualTLS()); err != nil || id != "moved" {
		t.Fatalf("a node not yet rotated refused a rotated one: %v %q", err, id)
	}
	if err, id := handshake(t, moved.MutualTLS(), behind.MutualTLS()); err != nil || id != "behind" {
		t.Fatalf("a rotated node refused one not yet rotated: %v %q", err, id)
	}
	joiner, _ := newCA.NewNode("joiner", time.Hour)
	if err, id := handshake(t, moved.MutualTLS(), joiner.MutualTLS()); err != nil || id != "joiner" {
		t.Fatalf("a node of the next secret alone was refused: %v %q", err, id)
	}
	moved.Retire()
	stale, _ := oldCA.NewNode("stale", time.Hour)
	if err, id := handshake(t, moved.MutualTLS(), stale.MutualTLS()); err == nil || id != "" {
		t.Fatalf("after retirement a certificate of the old CA was accepted: %v %q", err, id)
	}
	if err, id := handshake(t, joiner.MutualTLS(), moved.MutualTLS()); err != nil || id != "moved" {
		t.Fatalf("after retirement the next CA's nodes refused each other: %v %q", err, id)
	}
	if c, _ := moved.Certificate(); len(c.Certificate) != 1 {
		t.Fatalf("after retirement the node still shows %d certificates", len(c.Certificate))
	}
}
