package agent

import (
	"crypto/tls"
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
	path := filepath.Join(dataDir, CAFile)
	if have, err := os.ReadFile(path); err == nil && string(have) == string(ca.PEM()) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, ca.PEM(), 0o644); err != nil {
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
