package fsm

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
	"github.com/skiff-run/skiff/token"
)

func sealed(t *testing.T, k *token.ValueKey, name, value string) structs.Secret {
	t.Helper()
	b, err := k.Seal(name, []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	return structs.Secret{Name: name, KeyID: k.ID(), Sealed: b, Size: len(value)}
}

func valueKey(t *testing.T) *token.ValueKey {
	t.Helper()
	s, _ := token.Generate()
	k, err := s.ValueKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSetSecret(t *testing.T) {
	f := New(nil)
	k := valueKey(t)
	mustApply(t, f, 1, CmdSetSecret, SetSecret{Secret: sealed(t, k, "db", "one"), At: 10})
	mustApply(t, f, 2, CmdSetSecret, SetSecret{Secret: sealed(t, k, "db", "second"), At: 20})
	s := f.State().Secret("db")
	if s == nil || s.Version != 2 || s.CreatedAt != 10 || s.UpdatedAt != 20 || s.Size != 6 {
		t.Fatalf("after two sets: %+v", s)
	}
	if v, err := k.Open("db", s.Sealed); err != nil || string(v) != "second" {
		t.Fatalf("the stored value: %q %v", v, err)
	}
	for name, bad := range map[string]structs.Secret{
		"a bad name":            sealed(t, k, "no/slash", "x"),
		"a long name":           sealed(t, k, strings.Repeat("a", 129), "x"),
		"no key id":             {Name: "a", Sealed: make([]byte, 29), Size: 1},
		"a size that lies":      {Name: "a", KeyID: "k", Sealed: make([]byte, 40), Size: 1},
		"a value over the cap":  {Name: "a", KeyID: "k", Sealed: make([]byte, structs.MaxSecretBytes+1+sealOverhead), Size: structs.MaxSecretBytes + 1},
		"an unsealed plaintext": {Name: "a", KeyID: "k", Sealed: []byte("plain"), Size: 5},
	} {
		if err, _ := apply(t, f, 3, CmdSetSecret, SetSecret{Secret: bad}).(error); err == nil {
			t.Errorf("%s was stored", name)
		}
	}
	if len(f.State().Secrets()) != 1 {
		t.Fatalf("secrets: %+v", f.State().Secrets())
	}
}

func TestDeleteSecretInUse(t *testing.T) {
	f := New(nil)
	k := valueKey(t)
	mustApply(t, f, 1, CmdSetSecret, SetSecret{Secret: sealed(t, k, "db", "pw")})
	mustApply(t, f, 2, CmdSetSecret, SetSecret{Secret: sealed(t, k, "registry", "{}")})
	td := webDef("a:1")
	td.ContainerDefinitions[0].Secrets = []structs.SecretRef{{Name: "DB_PASSWORD", ValueFrom: "db"}}
	td.ContainerDefinitions[0].RepositoryCredentials = &structs.RepositoryCredentials{CredentialsParameter: "registry"}
	mustApply(t, f, 3, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1}, TaskDefinition: td})
	mustApply(t, f, 4, CmdApplyService, ApplyService{Service: structs.Service{Name: "api", DesiredCount: 1}, TaskDefinition: td})
	for _, name := range []string{"db", "registry"} {
		err, _ := apply(t, f, 5, CmdDeleteSecret, DeleteSecret{Name: name}).(error)
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "api, web") {
			t.Fatalf("delete of %s, which two services read: %v", name, err)
		}
	}
	if f.State().Secret("db") == nil {
		t.Fatal("a refused delete removed the secret")
	}
	// A service applied without the secret no longer holds it.
	mustApply(t, f, 6, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1}, TaskDefinition: webDef("a:1")})
	mustApply(t, f, 7, CmdDeleteService, DeleteService{Name: "api"})
	mustApply(t, f, 8, CmdDeleteSecret, DeleteSecret{Name: "db"})
	if f.State().Secret("db") != nil {
		t.Fatal("the secret is still there")
	}
	if err, _ := apply(t, f, 9, CmdDeleteSecret, DeleteSecret{Name: "db"}).(error); !errors.Is(err, structs.ErrNotFound) {
		t.Fatalf("delete of a missing secret: %v", err)
	}
}

func TestResealSecrets(t *testing.T) {
	f := New(nil)
	old, next := valueKey(t), valueKey(t)
	mustApply(t, f, 1, CmdSetSecret, SetSecret{Secret: sealed(t, old, "a", "value-a")})
	mustApply(t, f, 2, CmdSetSecret, SetSecret{Secret: sealed(t, old, "b", "value-b")})
	reseal := func(name string, version int) Reseal {
		s := sealed(t, next, name, "value-"+name)
		return Reseal{Name: name, Version: version, KeyID: s.KeyID, Sealed: s.Sealed}
	}
	// b is set again after the leader read it: its reseal of version 1
	// must not bring the older value back.
	mustApply(t, f, 3, CmdSetSecret, SetSecret{Secret: sealed(t, old, "b", "value-B")})
	mustApply(t, f, 4, CmdResealSecrets, ResealSecrets{Secrets: []Reseal{reseal("a", 1), reseal("b", 1), reseal("gone", 1)}})
	st := f.State()
	if a := st.Secret("a"); a.KeyID != next.ID() || a.Version != 1 {
		t.Fatalf("a after the reseal: %+v", a)
	}
	if v, err := next.Open("a", st.Secret("a").Sealed); err != nil || string(v) != "value-a" {
		t.Fatalf("a opens to %q, %v", v, err)
	}
	if b := st.Secret("b"); b.KeyID != old.ID() || b.Version != 2 {
		t.Fatalf("b, set since, was resealed: %+v", b)
	}
	if st.Secret("gone") != nil {
		t.Fatal("a reseal created a secret")
	}
}

// TestSnapshotHoldsNoSecretValue searches a persisted snapshot for the
// values it holds: only their sealed forms may be there, and they come back
// on restore.
func TestSnapshotHoldsNoSecretValue(t *testing.T) {
	f := New(nil)
	k := valueKey(t)
	value := "correct-horse-battery-staple"
	mustApply(t, f, 1, CmdSetSecret, SetSecret{Secret: sealed(t, k, "db", value)})
	var s sink
	snap, _ := f.Snapshot()
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s.Bytes(), []byte(value)) || !bytes.Contains(s.Bytes(), []byte(`"db"`)) {
		t.Fatalf("snapshot: %s", s.Bytes())
	}
	g := New(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(s.Bytes()))); err != nil {
		t.Fatal(err)
	}
	got := g.State().Secret("db")
	if got == nil {
		t.Fatal("the restore lost the secret")
	}
	if v, err := k.Open("db", got.Sealed); err != nil || string(v) != value {
		t.Fatalf("restored secret opens to %q, %v", v, err)
	}
}
