package token

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	s, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	text := s.String()
	if !strings.HasPrefix(text, "SKT1-") || len(text) != 5+64 {
		t.Fatalf("token %q", text)
	}
	back, err := Parse("  " + text + "\n")
	if err != nil || back != s {
		t.Fatalf("parse: %v", err)
	}
	other, _ := Generate()
	if other == s {
		t.Fatal("two secrets are equal")
	}
	if bytes.Equal(s.GossipKey(), other.GossipKey()) || len(s.GossipKey()) != 32 || !bytes.Equal(s.GossipKey(), back.GossipKey()) {
		t.Fatal("gossip keys are not a function of the secret alone")
	}
	if bytes.Contains(s.GossipKey(), s[:8]) {
		t.Fatal("the gossip key shows the secret")
	}
}

func TestParseRefusesWhatIsNotAToken(t *testing.T) {
	for _, bad := range []string{"", "hunter2", "SKT1-", "SKT1-xyz", "SKT1-" + strings.Repeat("ab", 31), "SKT2-" + strings.Repeat("ab", 32)} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestSaveAndLoad(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := Load(dir); ok || err != nil {
		t.Fatalf("empty dir: %v %v", ok, err)
	}
	s, _ := Generate()
	if err := Save(dir, s); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", info, err)
	}
	got, ok, err := Load(dir)
	if !ok || err != nil || got != s {
		t.Fatalf("load: %v %v", ok, err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir); err == nil || !strings.Contains(err.Error(), FileName) {
		t.Fatalf("a garbled file: %v", err)
	}
}
