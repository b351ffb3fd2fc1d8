package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// Web browsers take no Ed25519 certificates, which the cluster's CA and
// its node certificates are. So that a browser can reach the web UI over
// the API's port, an agent also holds a self-signed ECDSA P-256
// certificate and shows it to clients that cannot check the node
// certificate. It proves nothing about the cluster: a browser warns about
// it until the person accepts or installs it (its fingerprint is in the
// agent's log and its PEM in the data dir, to compare), and the API's
// token is what authenticates the person. Agents and command lines, which
// take Ed25519, keep getting the node certificate.

// browserLifetime is how long a browser certificate is valid. It is made
// afresh at every start, so the bound matters only to an agent that runs
// for years.
const browserLifetime = 2 * 365 * 24 * time.Hour

// BrowserCertificate makes a self-signed ECDSA P-256 certificate for the
// given host names and IP addresses, as an agent shows browsers.
func BrowserCertificate(hosts []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: browser key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "skiff agent web UI", Organization: []string{"skiff"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(browserLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		if seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: browser certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// Fingerprint is the SHA-256 of a certificate, in the colon-separated hex
// that browsers show.
func Fingerprint(c tls.Certificate) string {
	sum := sha256.Sum256(c.Certificate[0])
	return strings.ReplaceAll(fmt.Sprintf("% X", sum[:]), " ", ":")
}

// ServerTLSWithBrowser is ServerTLS that shows browser to clients that
// cannot check the node certificate, which no browser can.
func (n *Node) ServerTLSWithBrowser(browser tls.Certificate) *tls.Config {
	cfg := n.ServerTLS()
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, err := n.Certificate()
		if err != nil {
			return nil, err
		}
		if hello.SupportsCertificate(c) != nil && hello.SupportsCertificate(&browser) == nil {
			return &browser, nil
		}
		return c, nil
	}
	return cfg
}
