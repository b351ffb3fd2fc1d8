package gossip

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/skiff-run/skiff/internal/testutil"
)

// freePort is a port free for memberlist's TCP and UDP listeners, as the
// number Config takes.
func freePort(t *testing.T) int {
	p, err := strconv.Atoi(testutil.Port(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func startRing(t *testing.T, id string) *Ring {
	t.Helper()
	r, err := Start(Config{Meta: Meta{ID: id, Name: "node-" + id, RaftAddr: "127.0.0.1:1", Version: "test"},
		BindAddr: "127.0.0.1", BindPort: freePort(t), ProbeInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func statusOf(r *Ring, id string) string {
	for _, m := range r.Members() {
		if m.ID == id {
			return m.Status
		}
	}
	return ""
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestJoinFailLeave(t *testing.T) {
	a, b, c := startRing(t, "a"), startRing(t, "b"), startRing(t, "c")
	defer a.Shutdown()
	for _, r := range []*Ring{b, c} {
		if n, err := r.Join([]string{a.LocalAddr()}, 0); n != 1 || err != nil {
			t.Fatalf("join: %d %v", n, err)
		}
	}
	waitFor(t, "3 alive members everywhere", func() bool {
		for _, r := range []*Ring{a, b, c} {
			for _, id := range []string{"a", "b", "c"} {
				if statusOf(r, id) != StatusAlive {
					return false
				}
			}
		}
		return true
	})
	if m := a.Members(); m[1].Name != "node-b" || m[1].RaftAddr != "127.0.0.1:1" {
		t.Fatalf("metadata not carried: %+v", m[1])
	}
	start := time.Now()
	c.Shutdown()
	waitFor(t, "c dead", func() bool { return statusOf(a, "c") == StatusDead })
	t.Logf("a silent node was declared dead after %s", time.Since(start).Round(10*time.Millisecond))
	if err := b.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b left", func() bool { return statusOf(a, "b") == StatusLeft })
}

func TestMetaTooLarge(t *testing.T) {
	attrs := map[string]string{}
	for i := 0; i < 50; i++ {
		attrs[fmt.Sprintf("attribute-%d", i)] = "some-long-value"
	}
	_, err := Start(Config{Meta: Meta{ID: "x", Attributes: attrs}, BindAddr: "127.0.0.1", BindPort: freePort(t)})
	if err == nil {
		t.Fatal("oversized metadata was accepted")
	}
}

func TestJoinNobodyFails(t *testing.T) {
	r := startRing(t, "solo")
	defer r.Shutdown()
	_, err := r.Join([]string{"127.0.0.1"}, freePort(t))
	if err == nil {
		t.Fatal("join to nobody succeeded")
	}
}
