package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// PEM is the CA certificate in PEM form. Agents write it to
// <data-dir>/ca.pem, where the command line finds it to check the API.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// ServerTLS is the TLS configuration of an agent's API listener. It shows
// the node certificate and asks for a client certificate without
// requiring one: people's command lines carry only bearer tokens, while
// agents calling each other show their node certificates, which name the
// calling node. A certificate that is shown must be the cluster's, checked
// by the same verification as Raft's links (Go's own check, through
// VerifyClientCertIfGiven, would need a fixed pool of CAs), so that the
// node id a handler reads from it can be trusted.
func (n *Node) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return n.Certificate() },
		ClientAuth:     tls.RequestClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			return n.verify(cs.PeerCertificates)
		},
	}
}

// ClientTLS is the TLS configuration of a command line that trusts the
// CA certificates in caPEM (an agent's ca.pem) and no other. The chain is
// checked against them, not against the host name dialled: agent
// certificates name node ids, while people reach agents by IP address or
// by whatever name their network gives the host, and the pinned CA is
// what proves the agent belongs to the cluster.
func ClientTLS(caPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	found := 0
	for rest := caPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a CA certificate: %w", err)
		}
		if !cert.IsCA {
			return nil, fmt.Errorf("the certificate %q is not a CA", cert.Subject.CommonName)
		}
		pool.AddCert(cert)
		found++
	}
	if found == 0 {
		return nil, errors.New("no PEM certificate in it (an agent writes its cluster's CA to <data-dir>/ca.pem)")
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("pki: the agent showed no certificate")
			}
			if err := verifyChain(cs.PeerCertificates, pool, x509.ExtKeyUsageServerAuth); err != nil {
				return fmt.Errorf("pki: the agent's certificate is not of the trusted cluster CA: %w", err)
			}
			return nil
		},
	}, nil
}
