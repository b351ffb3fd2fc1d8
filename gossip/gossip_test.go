package gossip

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

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

func startRingAt(t *testing.T, id string, port int, snapshot string) *Ring {
	t.Helper()
	r, err := Start(Config{Meta: Meta{ID: id, Name: "node-" + id, RaftAddr: "127.0.0.1:1", Version: "test"},
		BindAddr: "127.0.0.1", BindPort: port, ProbeInterval: 200 * time.Millisecond, SnapshotPath: snapshot,
		ReconnectInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func logTo(t *testing.T) func(string, ...any) {
	return func(msg string, args ...any) { t.Log(append([]any{msg}, args...)...) }
}

// TestRestartedSeedFindsTheRing restarts the member everyone joined
// through, told to join only itself (as the seed host of a cluster is): it
// must find the others through the members it remembers, not count
// reaching itself as a join.
func TestRestartedSeedFindsTheRing(t *testing.T) {
	snap := filepath.Join(t.TempDir(), "members.json")
	port := freePort(t)
	seed := startRingAt(t, "seed", port, snap)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		seed.Maintain(ctx, []string{seed.LocalAddr()}, 0, func() []string { return nil }, logTo(t))
	}()
	b := startRing(t, "b")
	defer b.Shutdown()
	if _, err := b.Join([]string{seed.LocalAddr()}, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the seed's snapshot names b", func() bool {
		raw, err := os.ReadFile(snap)
		return err == nil && strings.Contains(string(raw), b.LocalAddr())
	})
	cancel()
	<-done
	seed.Shutdown()
	waitFor(t, "seed dead", func() bool { return statusOf(b, "seed") == StatusDead })

	// b is told not to reconnect by itself (a long interval is the
	// default of a bare Start), so only the seed's own rejoin can help.
	seed = startRingAt(t, "seed", port, snap)
	defer seed.Shutdown()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go seed.Maintain(ctx, []string{seed.LocalAddr(), "localhost"}, port, func() []string { return nil }, logTo(t))
	waitFor(t, "the restarted seed sees b, and b sees it alive", func() bool {
		return statusOf(seed, "b") == StatusAlive && statusOf(b, "seed") == StatusAlive
	})
}

// TestDeadMemberIsReconnected restarts a member with nothing to join: the
// ring pulls it back in from the other side.
func TestDeadMemberIsReconnected(t *testing.T) {
	a := startRingAt(t, "a", freePort(t), "")
	defer a.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Maintain(ctx, nil, 0, func() []string { return nil }, logTo(t))
	port := freePort(t)
	b := startRingAt(t, "b", port, "")
	if _, err := b.Join([]string{a.LocalAddr()}, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b alive", func() bool { return statusOf(a, "b") == StatusAlive })
	b.Shutdown()
	waitFor(t, "b dead", func() bool { return statusOf(a, "b") == StatusDead })
	b = startRingAt(t, "b", port, "")
	defer b.Shutdown()
	waitFor(t, "b back", func() bool { return statusOf(a, "b") == StatusAlive && statusOf(b, "a") == StatusAlive })
}

// forged is a member's metadata, sent under any name.
type forged struct{ meta []byte }

func (f forged) NodeMeta(int) []byte                  { return f.meta }
func (forged) NotifyMsg([]byte)                       {}
func (forged) GetBroadcasts(int, int) [][]byte        { return nil }
func (forged) LocalState(bool) []byte                 { return nil }
func (forged) MergeRemoteState(buf []byte, join bool) {}

// TestImpostorMetadataIsIgnored joins a member named "evil" whose
// metadata claims the id of node a: nobody believes it, so it can neither
// become a's address nor make a look as if it left.
func TestImpostorMetadataIsIgnored(t *testing.T) {
	a := startRing(t, "a")
	defer a.Shutdown()
	b := startRing(t, "b")
	defer b.Shutdown()
	if _, err := b.Join([]string{a.LocalAddr()}, 0); err != nil {
		t.Fatal(err)
	}
	meta, _ := json.Marshal(Meta{ID: "a", Name: "node-a", RaftAddr: "127.0.0.1:9", Leaving: true})
	mc := memberlist.DefaultLANConfig()
	mc.Name, mc.BindAddr, mc.BindPort, mc.AdvertisePort = "evil", "127.0.0.1", freePort(t), 0
	mc.AdvertisePort = mc.BindPort
	mc.Delegate = forged{meta: meta}
	mc.LogOutput = io.Discard
	evil, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer evil.Shutdown()
	if _, err := evil.Join([]string{b.LocalAddr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "evil known to b's memberlist", func() bool { return b.ml.NumMembers() == 3 })
	if err := evil.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	// For a whole second after the impostor's leave, b still sees the
	// real a, alive at its own address.
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		for _, m := range b.Members() {
			if m.ID == "a" && (m.RaftAddr != "127.0.0.1:1" || m.Status != StatusAlive) {
				t.Fatalf("b believes the impostor: %+v", m)
			}
		}
	}
}

// TestDeadMembersAreReaped forgets a member that stays dead past
// ReapAfter: no more reconnects to it, and gone from the snapshot.
func TestDeadMembersAreReaped(t *testing.T) {
	snap := filepath.Join(t.TempDir(), "members.json")
	a, err := Start(Config{Meta: Meta{ID: "a", Name: "node-a", Version: "test"}, BindAddr: "127.0.0.1", BindPort: freePort(t),
		ProbeInterval: 200 * time.Millisecond, SnapshotPath: snap, ReconnectInterval: 100 * time.Millisecond, ReapAfter: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Maintain(ctx, nil, 0, func() []string { return nil }, logTo(t))
	b := startRing(t, "b")
	if _, err := b.Join([]string{a.LocalAddr()}, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b in a's snapshot", func() bool {
		raw, err := os.ReadFile(snap)
		return err == nil && strings.Contains(string(raw), `"b"`)
	})
	b.Shutdown()
	waitFor(t, "b dead", func() bool { return statusOf(a, "b") == StatusDead })
	waitFor(t, "b forgotten", func() bool {
		raw, err := os.ReadFile(snap)
		return statusOf(a, "b") == "" && err == nil && !strings.Contains(string(raw), `"b"`)
	})
}

// waitFor waits until cond holds, failing with what it waited for.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() (bool, string) { return cond(), "waiting for " + what })
}
