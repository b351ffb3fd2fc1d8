package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

func TestBackupRoundTrip(t *testing.T) {
	f := goldenState(t)
	b, err := NewBackup(f.State())
	if err != nil {
		t.Fatal(err)
	}
	if b.Index != 6 || b.Format != structs.BackupFormat {
		t.Fatalf("backup of index %d, format %q: want 6, %s", b.Index, b.Format, structs.BackupFormat)
	}
	if err := CheckBackup(b); err != nil {
		t.Fatalf("a fresh backup does not check: %v", err)
	}
	g := New(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(b.State))); err != nil {
		t.Fatal(err)
	}
	if got := persist(t, g); got != persist(t, f) {
		t.Errorf("restored state differs:\n%s\nwant:\n%s", got, persist(t, f))
	}
}

func TestCheckBackupRefuses(t *testing.T) {
	good, err := NewBackup(goldenState(t).State())
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		change func(b *structs.Backup)
		want   string
	}{
		"another format": {func(b *structs.Backup) { b.Format = "consul-snapshot" }, "format"},
		"no state":       {func(b *structs.Backup) { b.State = nil }, "state: missing"},
		"a changed byte": {func(b *structs.Backup) { b.State = bytes.Replace(b.State, []byte(`"web"`), []byte(`"wex"`), 1) }, "damaged"},
		"another index":  {func(b *structs.Backup) { b.Index = 9 }, "the state is of index 6"},
		"a state that is not a snapshot": {func(b *structs.Backup) {
			b.State = []byte(`{"index":6,"colour":"blue"}`)
			sum := sha256.Sum256(b.State)
			b.SHA256 = hex.EncodeToString(sum[:])
		}, "unknown field"},
	} {
		t.Run(name, func(t *testing.T) {
			b := *good
			b.State = bytes.Clone(good.State)
			c.change(&b)
			if err := CheckBackup(&b); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err %v: want one saying %q", err, c.want)
			}
		})
	}
}

// BackupSecrets finds the sealed secrets of a backup, with the key each is
// sealed under, and nothing of a backup without secrets.
func TestBackupSecrets(t *testing.T) {
	f := New(nil)
	if b, err := NewBackup(f.State()); err != nil {
		t.Fatal(err)
	} else if got, err := BackupSecrets(b); err != nil || len(got) != 0 {
		t.Fatalf("secrets of an empty backup: %v, %v; want none", got, err)
	}
	mustApply(t, f, 1, CmdSetSecret, SetSecret{Secret: structs.Secret{Name: "db", KeyID: "k1", Sealed: make([]byte, 2+sealOverhead), Size: 2}})
	b, err := NewBackup(f.State())
	if err != nil {
		t.Fatal(err)
	}
	got, err := BackupSecrets(b)
	if err != nil || len(got) != 1 || got[0].Name != "db" || got[0].KeyID != "k1" {
		t.Fatalf("secrets of the backup: %+v, %v; want db sealed under k1", got, err)
	}
}
