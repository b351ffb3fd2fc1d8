package fsm

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

func rotation(gen int, prev, next string) RotateSecret {
	return RotateSecret{
		Rotation:  structs.SecretRotation{Generation: gen, PrevDigest: strings.Repeat(prev, 64), Digest: strings.Repeat(next, 64), Sealed: []byte("sealed"), At: 1},
		Bootstrap: structs.ACLToken{AccessorID: "bootstrap", Policy: structs.PolicyManagement, SecretHash: strings.Repeat(next, 64)},
	}
}

// TestRotateSecret: rotations land in order, each from the secret the one
// before it rotated to; the bootstrap token follows the newest secret; a
// snapshot keeps them.
func TestRotateSecret(t *testing.T) {
	f := New(nil)
	apply := func(i uint64, c RotateSecret) error {
		b, err := Encode(CmdRotateSecret, c)
		if err != nil {
			t.Fatal(err)
		}
		err, _ = f.ApplyCommand(i, b).(error)
		return err
	}
	old := UpsertACLToken{Token: structs.ACLToken{AccessorID: "bootstrap", Policy: structs.PolicyManagement, SecretHash: strings.Repeat("0", 64)}}
	b, _ := Encode(CmdUpsertACLToken, old)
	f.ApplyCommand(1, b)

	if err := apply(2, rotation(2, "0", "1")); err == nil || !strings.Contains(err.Error(), "generation 0") {
		t.Fatalf("a rotation that skips a generation: %v", err)
	}
	if err := apply(3, rotation(1, "0", "1")); err != nil {
		t.Fatal(err)
	}
	if f.State().ACLTokenBySecretHash(strings.Repeat("0", 64)) != nil {
		t.Fatal("the old bootstrap token still authenticates")
	}
	if tok := f.State().ACLTokenBySecretHash(strings.Repeat("1", 64)); tok == nil || tok.Policy != structs.PolicyManagement {
		t.Fatalf("the new bootstrap token: %+v", tok)
	}
	if err := apply(4, rotation(1, "0", "2")); err == nil {
		t.Fatal("a second rotation to generation 1 landed")
	}
	if err := apply(5, rotation(2, "9", "2")); err == nil || !strings.Contains(err.Error(), "not the cluster's current") {
		t.Fatalf("a rotation from a secret that is not the current one: %v", err)
	}
	bad := rotation(2, "1", "1")
	if err := apply(6, bad); err == nil {
		t.Fatal("a rotation to the same CA landed")
	}
	if err := apply(7, rotation(2, "1", "2")); err != nil {
		t.Fatal(err)
	}
	rs := f.State().Rotations()
	if len(rs) != 2 || rs[0].Generation != 1 || rs[1].Generation != 2 {
		t.Fatalf("rotations: %+v", rs)
	}

	var s sink
	snap, _ := f.Snapshot()
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	g := New(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(s.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if len(g.State().Rotations()) != 2 || g.State().ACLTokenBySecretHash(strings.Repeat("2", 64)) == nil {
		t.Fatal("a snapshot lost the rotations or the bootstrap token")
	}
}
