package agent

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/pki"
)

// CAFile is the file in the data dir that holds the cluster CA's
// certificate, in PEM form, for the command line on the host to check the
// API with. Unlike the files of secrets beside it, anyone may read it: a
// certificate proves nothing without its key, which is never written.
const CAFile = "ca.pem"

// writeCA writes the CA certificate into the data dir, through a new file
// renamed into place, so that a command reading it never sees half of it.
func writeCA(dataDir string, ca *pki.CA) error {
	return writePublic(filepath.Join(dataDir, CAFile), ca.PEM())
}

// BrowserCertFile is the file in the data dir that holds the certificate
// the agent shows web browsers (see pki.BrowserCertificate), for people to
// compare with what their browser shows, or to install.
const BrowserCertFile = "ui-cert.pem"

// browserCertificate makes the certificate the agent shows web browsers,
// naming the agent's name, its advertised IP and loopback, and writes it
// to BrowserCertFile.
func browserCertificate(dataDir, name, ip string) (tls.Certificate, error) {
	c, err := pki.BrowserCertificate([]string{name, ip, "localhost", "127.0.0.1", "::1"})
	if err != nil {
		return tls.Certificate{}, err
	}
	raw := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
	if err := writePublic(filepath.Join(dataDir, BrowserCertFile), raw); err != nil {
		return tls.Certificate{}, err
	}
	return c, nil
}

// writePublic replaces path with data that anyone on the host may read,
// through a temporary file so that readers never see half of it.
func writePublic(path string, data []byte) error {
	if have, err := os.ReadFile(path); err == nil && string(have) == string(data) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	// WriteFile's mode is narrowed by the umask; the CLI of another user
	// on the host may need to read the file.
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// peerHTTP is how this agent calls other agents' APIs: over https, showing
// its node certificate and checking theirs, when it has one (n is nil for
// an agent without a cluster secret, whose API and peers' are plain http).
func peerHTTP(n *pki.Node) (scheme string, cfg *tls.Config, client *http.Client) {
	if n == nil {
		return "http", nil, &http.Client{Transport: api.PeerTransport()}
	}
	cfg = n.MutualTLS()
	t := api.PeerTransport()
	// A transport adds its protocols to the configuration it is given;
	// cfg is shared with the API's forwarding and the bootstrap's
	// questions, which get copies of their own.
	t.TLSClientConfig = cfg.Clone()
	return "https", cfg, &http.Client{Transport: t}
}
