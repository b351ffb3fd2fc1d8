package agent

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/structs"
	"github.com/skiff-run/skiff/token"
)

// fakeKeyRing records key changes in order.
type fakeKeyRing struct {
	mu  sync.Mutex
	ops []string
}

func (f *fakeKeyRing) op(what string, key []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, what+":"+string(key[:1]))
	return nil
}
func (f *fakeKeyRing) AddKey(k []byte) error    { return f.op("add", k) }
func (f *fakeKeyRing) UseKey(k []byte) error    { return f.op("use", k) }
func (f *fakeKeyRing) RemoveKey(k []byte) error { return f.op("remove", k) }
func (f *fakeKeyRing) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ops)
}

// rotate applies a rotation from cur to a new secret and returns it.
func rotate(t *testing.T, f *fsm.FSM, index uint64, gen int, cur token.Secret) token.Secret {
	t.Helper()
	next, _ := token.Generate()
	sealed, err := cur.Seal(next)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := pki.ClusterCA(cur)
	b, _ := pki.ClusterCA(next)
	cmd, _ := fsm.Encode(fsm.CmdRotateSecret, fsm.RotateSecret{
		Rotation:  structs.SecretRotation{Generation: gen, PrevDigest: a.Digest(), Digest: b.Digest(), Sealed: sealed},
		Bootstrap: *bootstrapToken("d", next)})
	if err, ok := f.ApplyCommand(index, cmd).(error); ok {
		t.Fatal(err)
	}
	return next
}

// TestKeysWalkEveryRotation: an agent two rotations behind opens both in
// turn, keeps the newest secret and management token in its data dir,
// hears gossip under each new key at once, speaks the newest after a
// quarter of the grace and drops the old keys at its end.
func TestKeysWalkEveryRotation(t *testing.T) {
	dir := t.TempDir()
	s0, _ := token.Generate()
	ca, _ := pki.ClusterCA(s0)
	node, _ := ca.NewNode("n1", time.Hour)
	ring := &fakeKeyRing{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k := newKeys(ctx, dir, s0, node, ring, 400*time.Millisecond, testutil.Logger(t))
	f := fsm.New(nil)
	s1 := rotate(t, f, 1, 1, s0)
	s2 := rotate(t, f, 2, 2, s1)

	k.catchUp(f.State())
	if k.Secret() != s2 {
		t.Fatal("the agent did not reach the newest secret")
	}
	if kept, _, _ := token.Load(dir); kept != s2 {
		t.Fatal("the data dir does not keep the newest secret")
	}
	for _, old := range []token.Secret{s0, s1} {
		if ok, _ := token.Retired(dir, old); !ok {
			t.Fatal("a secret the agent moved on from is not recorded as retired")
		}
	}
	if tok := f.State().ACLTokenBySecretHash(token.Hash(s2.ManagementToken())); tok == nil {
		t.Fatal("the state does not know the newest bootstrap token")
	}
	if node.CA().Digest() != mustDigest(t, s2) {
		t.Fatal("the node certificate is not of the newest CA")
	}
	key := func(s token.Secret) string { return string(s.GossipKey()[:1]) }
	want := []string{"add:" + key(s1), "add:" + key(s2)}
	if got := ring.list(); !slices.Equal(got, want) {
		t.Fatalf("key changes at once: %q, want %q", got, want)
	}
	cancel()
	k.wg.Wait()

	// A rotation sealed under another secret is refused and changes nothing.
	k2 := newKeys(context.Background(), t.TempDir(), s0, node, ring, time.Hour, testutil.Logger(t))
	g := fsm.New(nil)
	stranger, _ := token.Generate()
	rotate(t, g, 1, 1, stranger)
	k2.catchUp(g.State())
	if k2.Secret() != s0 {
		t.Fatal("the agent moved to a rotation not sealed under its secret")
	}
}

// TestKeysRetireAfterGrace: the new key is used after a quarter of the
// grace and the old one removed at its end.
func TestKeysRetireAfterGrace(t *testing.T) {
	s0, _ := token.Generate()
	ca, _ := pki.ClusterCA(s0)
	node, _ := ca.NewNode("n1", time.Hour)
	ring := &fakeKeyRing{}
	k := newKeys(context.Background(), t.TempDir(), s0, node, ring, 200*time.Millisecond, testutil.Logger(t))
	f := fsm.New(nil)
	s1 := rotate(t, f, 1, 1, s0)
	k.catchUp(f.State())
	k.wg.Wait()
	key := func(s token.Secret) string { return string(s.GossipKey()[:1]) }
	want := []string{"add:" + key(s1), "use:" + key(s1), "remove:" + key(s0)}
	if got := ring.list(); !slices.Equal(got, want) {
		t.Fatalf("key changes: %q, want %q", got, want)
	}
	if c, _ := node.Certificate(); len(c.Certificate) != 1 || !strings.EqualFold(c.Leaf.Subject.CommonName, "n1") {
		t.Fatal("after the grace the node still shows the cross-signed chain")
	}
}

func mustDigest(t *testing.T, s token.Secret) string {
	t.Helper()
	ca, err := pki.ClusterCA(s)
	if err != nil {
		t.Fatal(err)
	}
	return ca.Digest()
}
