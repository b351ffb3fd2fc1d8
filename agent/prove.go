package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"time"
)

// raftProver returns the control plane's proof of a member's identity
// (control.Config.Prove) for an agent whose Raft links use the mutual TLS
// configuration tlsConfig, or nil when there is none: without a cluster
// secret there are no identities to prove.
//
// The proof dials the claimed Raft address with the agent's own client
// configuration, which accepts only a certificate of the cluster's CA, and
// then requires the certificate's subject to be the claimed node id: only
// the agent holding that node's key can complete the handshake. It then
// closes its side and reads until the server closes too: the server sends
// its session tickets once it has checked this agent's certificate, and a
// socket closed with them unread would reset the connection. So Raft's
// handler of the connection reads a clean end of stream, which it takes
// without a word, rather than a reset, which it would log as an error.
func raftProver(tlsConfig *tls.Config) func(ctx context.Context, id, raftAddr string) error {
	if tlsConfig == nil {
		return nil
	}
	return func(ctx context.Context, id, raftAddr string) error {
		d := tls.Dialer{Config: tlsConfig}
		c, err := d.DialContext(ctx, "tcp", raftAddr)
		if err != nil {
			return fmt.Errorf("no TLS handshake with a node of this cluster at %s: %w", raftAddr, err)
		}
		conn := c.(*tls.Conn)
		defer conn.Close()
		peer := conn.ConnectionState().PeerCertificates
		if len(peer) == 0 {
			return fmt.Errorf("the server at %s showed no certificate", raftAddr)
		}
		if cn := peer[0].Subject.CommonName; cn != id {
			return fmt.Errorf("the server at %s holds the certificate of node %q, not of %q", raftAddr, cn, id)
		}
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = time.Now().Add(5 * time.Second)
		}
		_ = conn.SetDeadline(deadline)
		if err := conn.CloseWrite(); err != nil {
			return fmt.Errorf("close the proof's connection to %s: %w", raftAddr, err)
		}
		// The server may still refuse this agent's certificate while this
		// waits (TLS 1.3 completes the client's side of the handshake
		// first); that says nothing about the server's identity, which is
		// proven, so the read's outcome does not matter.
		_, _ = io.Copy(io.Discard, conn)
		return nil
	}
}
