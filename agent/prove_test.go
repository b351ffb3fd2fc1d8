package agent

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/token"
)

func mustNodeTLS(t *testing.T, s token.Secret, id string) *tls.Config {
	t.Helper()
	n, err := nodeCertificate(s, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return n.MutualTLS()
}

// serveOnce accepts one connection on a fresh port. With TLS (cfg set) it
// reads the connection to its end and reports how the read ended.
func serveOnce(t *testing.T, cfg *tls.Config) (addr string, ended <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if cfg == nil {
			// A plain server takes a ClientHello for garbage and hangs up,
			// as a Raft port without TLS would.
			_, err := c.Read(make([]byte, 512))
			done <- err
			return
		}
		c = tls.Server(c, cfg)
		_, err = io.Copy(io.Discard, c)
		done <- err
	}()
	return ln.Addr().String(), done
}

// TestRaftProver dials servers with the leader's client configuration:
// only a certificate of the cluster for the claimed id proves it, and the
// server then reads a clean end of the connection.
func TestRaftProver(t *testing.T) {
	if raftProver(nil) != nil {
		t.Fatal("an agent without TLS has a prover")
	}
	secret, _ := token.Generate()
	other, _ := token.Generate()
	prove := raftProver(mustNodeTLS(t, secret, "leader"))
	ctx := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		t.Cleanup(cancel)
		return ctx
	}

	addr, ended := serveOnce(t, mustNodeTLS(t, secret, "n2"))
	if err := prove(ctx(), "n2", addr); err != nil {
		t.Fatalf("the right node: %v", err)
	}
	if err := <-ended; err != nil {
		t.Fatalf("the server did not read a clean end after the proof: %v", err)
	}

	for name, tc := range map[string]struct {
		server *tls.Config
		want   string
	}{
		"a certificate for another id":   {mustNodeTLS(t, secret, "n3"), `holds the certificate of node "n3", not of "n2"`},
		"a certificate of another CA":    {mustNodeTLS(t, other, "n2"), "not this cluster's"},
		"a server that speaks plain TCP": {nil, "no TLS handshake"},
	} {
		addr, _ := serveOnce(t, tc.server)
		err := prove(ctx(), "n2", addr)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), addr) {
			t.Errorf("%s: %v, want an error with %q and the address", name, err, tc.want)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if err := prove(ctx(), "n2", closed); err == nil {
		t.Error("a closed port proved an id")
	}
}

// TestRaftProverAgainstRaft proves a real Raft server's id many times:
// its transport takes each proof as a connection that ended, without an
// error in its log, and it keeps working.
func TestRaftProverAgainstRaft(t *testing.T) {
	secret, _ := token.Generate()
	var logs testutil.Buffer
	addr := testutil.Addr(t)
	f := fsm.New(nil)
	n, err := raft.Open(raft.Config{NodeID: "n2", DataDir: filepath.Join(t.TempDir(), "raft"), BindAddr: addr, Bootstrap: true,
		LogOutput: &logs, TLS: mustNodeTLS(t, secret, "n2")}, f)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) { return n.IsLeader(), "the node leads" })
	prove := raftProver(mustNodeTLS(t, secret, "leader"))
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := prove(ctx, "n2", addr)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := prove(ctx, "n3", addr); err == nil {
		t.Fatal("node n2 proved the id n3")
	}
	time.Sleep(200 * time.Millisecond)
	if err := n.Barrier(ctx); err != nil {
		t.Fatalf("raft after the proofs: %v", err)
	}
	if l := logs.String(); strings.Contains(l, "[ERROR]") || strings.Contains(l, "failed to decode") {
		t.Fatalf("the proofs made Raft log errors:\n%s", l)
	}
}
