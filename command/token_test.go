package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/token"
)

func TestTokenGenerateAndShow(t *testing.T) {
	r := skiff("", "token", "generate")
	wantOK(t, r)
	s, err := token.Parse(r.stdout)
	if err != nil {
		t.Fatalf("generated %q: %v", r.stdout, err)
	}
	if again := skiff("", "token", "generate"); again.stdout == r.stdout {
		t.Fatal("two generated tokens are equal")
	}
	dir := t.TempDir()
	r = skiff("", "token", "show", "--data-dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "no join token in "+dir) {
		t.Fatalf("show without a token: %+v", r)
	}
	if err := token.Save(dir, s); err != nil {
		t.Fatal(err)
	}
	r = skiff("", "token", "show", "--data-dir", dir)
	wantOK(t, r)
	if strings.TrimSpace(r.stdout) != s.String() {
		t.Fatalf("show printed %q", r.stdout)
	}
	if err := os.WriteFile(filepath.Join(dir, token.FileName), []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r = skiff("", "token", "show", "--data-dir", dir); r.code != 1 || !strings.Contains(r.stderr, "not a skiff join token") {
		t.Fatalf("show of a garbled file: %+v", r)
	}
}

// TestAgentRefusesWithoutToken starts an agent outside --dev on an empty
// data dir without a token: it refuses and says how to get one.
func TestAgentRefusesWithoutToken(t *testing.T) {
	t.Setenv("SKIFF_TOKEN", "")
	r := skiff("", "agent", "--runtime", "fake", "--data-dir", t.TempDir(), "--bind", "127.0.0.1", "--bootstrap-expect", "1",
		"--http-port", "1", "--raft-port", "2", "--gossip-port", "3")
	if r.code != 1 || !strings.Contains(r.stderr, "no cluster token") || !strings.Contains(r.stderr, "skiff token generate") {
		t.Fatalf("agent without a token: %+v", r)
	}
	r = skiff("", "agent", "--runtime", "fake", "--data-dir", t.TempDir(), "--token", "hunter2")
	if r.code != 1 || !strings.Contains(r.stderr, "--token: not a skiff join token") {
		t.Fatalf("agent with a bad token: %+v", r)
	}
}

func TestTokenRotate(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"POST /v1/token/rotate": ok(`{"token":"SKT1-next"}`)})
	r := skiffAt(f, "--token", "SKC1-admin", "token", "rotate")
	if r.code != 0 || r.stdout != "SKT1-next\n" || !strings.Contains(r.stderr, "rotated") {
		t.Fatalf("rotate: %+v", r)
	}
	if got := f.last(t); got.auth != "Bearer SKC1-admin" {
		t.Fatalf("rotate sent %+v", got)
	}
	if r := skiffAt(f, "token", "rotate", "extra"); r.code != 1 {
		t.Fatalf("rotate with an argument: %+v", r)
	}
}
