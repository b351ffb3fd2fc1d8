package gossip

import (
	"bytes"
	"testing"
	"time"
)

func startKeyed(t *testing.T, id string, key []byte) *Ring {
	t.Helper()
	r, err := Start(Config{Meta: Meta{ID: id, Name: "node-" + id, RaftAddr: "127.0.0.1:1", Version: "test"},
		BindAddr: "127.0.0.1", BindPort: freePort(t), ProbeInterval: 200 * time.Millisecond, SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown() })
	return r
}

// TestKeyRotation: members add the next key, switch to it and drop the old
// one without losing each other; then a member with the next key alone
// joins, and one with the old key alone is not heard.
func TestKeyRotation(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	a, b := startKeyed(t, "a", oldKey), startKeyed(t, "b", oldKey)
	if _, err := b.Join([]string{a.LocalAddr()}, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to see a", func() bool { return statusOf(b, "a") == "alive" })
	for _, r := range []*Ring{a, b} {
		if err := r.AddKey(newKey); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []*Ring{a, b} {
		if err := r.UseKey(newKey); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []*Ring{a, b} {
		if err := r.RemoveKey(oldKey); err != nil {
			t.Fatal(err)
		}
	}
	// A few probe rounds on the new key alone.
	time.Sleep(time.Second)
	if statusOf(a, "b") != "alive" || statusOf(b, "a") != "alive" {
		t.Fatalf("the members lost each other over the rotation: a sees b %s, b sees a %s", statusOf(a, "b"), statusOf(b, "a"))
	}
	joiner := startKeyed(t, "c", newKey)
	if _, err := joiner.Join([]string{a.LocalAddr()}, 0); err != nil {
		t.Fatalf("a member with the new key: %v", err)
	}
	stale := startKeyed(t, "d", oldKey)
	if n, err := stale.Join([]string{a.LocalAddr()}, 0); err == nil {
		t.Fatalf("a member with the retired key joined %d", n)
	}
	if statusOf(a, "d") != "" {
		t.Fatal("a member with the retired key is in the ring")
	}
	plain, err := Start(Config{Meta: Meta{ID: "e"}, BindAddr: "127.0.0.1", BindPort: freePort(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Shutdown()
	if err := plain.AddKey(newKey); err == nil {
		t.Fatal("a ring without encryption took a key")
	}
}
