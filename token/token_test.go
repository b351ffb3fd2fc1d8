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

func TestSealOpen(t *testing.T) {
	cur, _ := Generate()
	next, _ := Generate()
	sealed, err := cur.Seal(next)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, next[:]) {
		t.Fatal("the sealed secret holds the secret in the clear")
	}
	got, err := cur.Open(sealed)
	if err != nil || got != next {
		t.Fatalf("open: %v", err)
	}
	if _, err := next.Open(sealed); err == nil {
		t.Fatal("another secret opened the seal")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := cur.Open(sealed); err == nil {
		t.Fatal("a tampered seal opened")
	}
	if _, err := cur.Open(sealed[:3]); err == nil {
		t.Fatal("a short seal opened")
	}
}

func TestRetired(t *testing.T) {
	dir := t.TempDir()
	a, _ := Generate()
	b, _ := Generate()
	if ok, err := Retired(dir, a); ok || err != nil {
		t.Fatalf("empty dir: %v %v", ok, err)
	}
	if err := Retire(dir, a); err != nil {
		t.Fatal(err)
	}
	if ok, _ := Retired(dir, a); !ok {
		t.Fatal("a retired token is not known as retired")
	}
	if ok, _ := Retired(dir, b); ok {
		t.Fatal("a token never held is taken for retired")
	}
	raw, _ := os.ReadFile(filepath.Join(dir, RetiredFileName))
	if strings.Contains(string(raw), a.String()) {
		t.Fatal("the retired file holds the token itself")
	}
}

func TestValueKey(t *testing.T) {
	s, _ := Generate()
	other, _ := Generate()
	k, err := s.ValueKey()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := s.ValueKey()
	ko, _ := other.ValueKey()
	if k.ID() != again.ID() || k.ID() == ko.ID() || len(k.ID()) != 16 {
		t.Fatalf("key ids %q %q %q: want one per secret", k.ID(), again.ID(), ko.ID())
	}
	value := []byte("hunter2-hunter2")
	sealed, err := k.Seal("db.password", value)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, value) {
		t.Fatal("the sealed value holds the value in the clear")
	}
	if got, err := again.Open("db.password", sealed); err != nil || !bytes.Equal(got, value) {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := k.Open("other", sealed); err == nil {
		t.Fatal("a value sealed for one name opened as another's")
	}
	if _, err := ko.Open("db.password", sealed); err == nil {
		t.Fatal("another cluster's key opened the value")
	}
	if _, err := k.Open("db.password", sealed[:5]); err == nil {
		t.Fatal("a short seal opened")
	}
}

func TestLocalSecret(t *testing.T) {
	dir := t.TempDir()
	a, err := LocalSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LocalSecret(dir)
	if err != nil || a != b {
		t.Fatalf("a second call made another secret: %v", err)
	}
	info, err := os.Stat(filepath.Join(dir, LocalKeyFileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", info, err)
	}
}
