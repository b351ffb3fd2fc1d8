// Package pki is the cluster's certificate authority: an Ed25519 CA that
// every agent holding the cluster secret derives the same way, so that the
// agents of --bootstrap-expect have one CA before any of them can talk to
// another, and node certificates whose subject is the node id. The CA key
// is never written anywhere: it lives in memory, derived from the secret
// when the agent starts.
package pki

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/skiff-run/skiff/token"
)

// CA is the cluster's certificate authority.
type CA struct {
	cert *x509.Certificate
	key  ed25519.PrivateKey
	pool *x509.CertPool
}

// caEpoch and caEnd bound the CA's validity. They are constants so that
// every agent derives a byte-identical certificate.
var (
	caEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	caEnd   = time.Date(2126, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ClusterCA derives the cluster's CA from its secret. Ed25519 signs
// deterministically, and every field of the certificate is fixed, so every
// agent gets the same certificate.
func ClusterCA(s token.Secret) (*CA, error) {
	key := ed25519.NewKeyFromSeed(s.CASeed())
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "skiff cluster CA"},
		NotBefore:             caEpoch,
		NotAfter:              caEnd,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// One intermediate below the CA: the next CA, cross-signed by
		// this one during a rotation of the cluster secret.
		MaxPathLen: 1,
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: make the CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: read the CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, key: key, pool: pool}, nil
}

// Digest is the SHA-256 of the CA certificate, which pins it.
func (ca *CA) Digest() string {
	sum := sha256.Sum256(ca.cert.Raw)
	return hex.EncodeToString(sum[:])
}

// Issue makes a certificate for a node, valid for ttl, whose subject is
// the node id: the identity it proves to other agents.
func (ca *CA) Issue(nodeID string, ttl time.Duration) (tls.Certificate, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: nodeID},
		DNSNames:     []string{nodeID},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: issue for %s: %w", nodeID, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, nil
}

// Node keeps a node's certificate current and knows which CAs to accept.
// It issues a new certificate when a third of the lifetime is left, so
// that a long-running agent never shows an expired one. Across a rotation
// of the cluster secret (Rotate, then Retire) it accepts the old CA and the
// new one, and shows a certificate of the new CA together with the new CA
// cross-signed by the old, so that agents that have not rotated yet accept
// it too. It is safe for concurrent use.
type Node struct {
	id  string
	ttl time.Duration

	mu sync.Mutex
	// ca issues this node's certificate.
	ca *CA
	// chain follows the leaf: ca cross-signed by the CA before it, while
	// that one is still accepted.
	chain [][]byte
	// roots are the CAs whose certificates this node accepts.
	roots *x509.CertPool
	cert  *tls.Certificate
}

// NewNode issues the node's first certificate.
func (ca *CA) NewNode(nodeID string, ttl time.Duration) (*Node, error) {
	n := &Node{ca: ca, id: nodeID, ttl: ttl, roots: ca.pool}
	if _, err := n.Certificate(); err != nil {
		return nil, err
	}
	return n, nil
}

// CA is the CA the node's certificate is issued by.
func (n *Node) CA() *CA {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ca
}

// Certificate returns the node's certificate, renewed when due.
func (n *Node) Certificate() (*tls.Certificate, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cert != nil && time.Until(n.cert.Leaf.NotAfter) > n.ttl/3 {
		return n.cert, nil
	}
	c, err := n.ca.Issue(n.id, n.ttl)
	if err != nil {
		return nil, err
	}
	c.Certificate = append(c.Certificate, n.chain...)
	n.cert = &c
	return n.cert, nil
}

// Rotate moves the node to the next CA: it accepts both, and from now on
// shows a certificate of next, chained to the current CA by a cross
// signature. Connections already open keep going; TLS checks certificates
// only when a connection starts.
func (n *Node) Rotate(next *CA) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	cross, err := n.ca.crossSign(next)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(n.ca.cert)
	roots.AddCert(next.cert)
	n.ca, n.chain, n.roots, n.cert = next, [][]byte{cross}, roots, nil
	return nil
}

// Retire stops accepting the CA before the current one: whoever holds only
// the old cluster secret can no longer show a certificate this node takes.
func (n *Node) Retire() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.chain, n.roots, n.cert = nil, n.ca.pool, nil
}

// MutualTLS is the TLS configuration of an agent-to-agent link: each side
// shows its node certificate and accepts only certificates of the CAs the
// node accepts, whatever address it dialled (agents know each other by
// id, not name).
func (n *Node) MutualTLS() *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		GetCertificate:       func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return n.Certificate() },
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return n.Certificate() },
		// The chain is checked in VerifyConnection, against roots that
		// change on a rotation, so Go's own check of client certificates
		// is not asked for; a client that shows none is refused there.
		ClientAuth: tls.RequireAnyClientCert,
		// Go checks a server certificate against the dialled host name;
		// agents dial addresses, so the chain is checked here instead.
		// VerifyConnection, unlike VerifyPeerCertificate, also runs on a
		// resumed session.
		InsecureSkipVerify: true,
		VerifyConnection:   func(cs tls.ConnectionState) error { return n.verify(cs.PeerCertificates) },
	}
}

// verify checks that a peer's certificate chains to a CA this node accepts
// and is meant for agents.
func (n *Node) verify(peer []*x509.Certificate) error {
	if len(peer) == 0 {
		return errors.New("pki: the peer showed no certificate")
	}
	n.mu.Lock()
	roots := n.roots
	n.mu.Unlock()
	if err := verifyChain(peer, roots, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth); err != nil {
		return fmt.Errorf("pki: the peer's certificate is not this cluster's: %w", err)
	}
	return nil
}

// verifyChain checks that peer's first certificate chains to roots, through
// the certificates shown after it: during a rotation an agent shows the
// new CA cross-signed by the old one, so that a side still trusting only
// the old CA accepts it.
func verifyChain(peer []*x509.Certificate, roots *x509.CertPool, usages ...x509.ExtKeyUsage) error {
	inter := x509.NewCertPool()
	for _, c := range peer[1:] {
		inter.AddCert(c)
	}
	_, err := peer[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: usages})
	return err
}

// crossSign certifies next's key with this CA, so that a certificate next
// issues chains to this CA as well as to next itself.
func (ca *CA) crossSign(next *CA) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               next.cert.Subject,
		SubjectKeyId:          next.cert.SubjectKeyId,
		NotBefore:             caEpoch,
		NotAfter:              caEnd,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(nil, tmpl, ca.cert, next.key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: cross-sign the next CA: %w", err)
	}
	return der, nil
}
