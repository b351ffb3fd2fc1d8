package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretCommands(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"PUT /v1/secrets/db":        ok(`{"name":"db","size":6,"version":1,"createdAt":1,"updatedAt":1}`),
		"DELETE /v1/secrets/db":     {status: 204},
		"DELETE /v1/secrets/in-use": {status: 409, body: `{"error":"conflict: in use: secret in-use is read by service(s) web; apply them without it, or delete them, first"}`},
	})
	// The value from the standard input loses its one trailing newline.
	r := skiff("hunter\n", "--addr", f.URL, "secret", "set", "db")
	wantOK(t, r)
	if r.stdout != "secret db set: 6 bytes, version 1\n" || strings.Contains(r.stdout, "hunter") {
		t.Fatalf("set: %q", r.stdout)
	}
	if got := f.last(t); got.method != "PUT" || got.body != `{"value":"aHVudGVy"}` {
		t.Fatalf("set sent %+v", got)
	}
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte("line1\nline2\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantOK(t, skiffAt(f, "secret", "set", "-f", path, "db"))
	if got := f.last(t).body; got != `{"value":"bGluZTEKbGluZTI="}` {
		t.Fatalf("set -f sent %s", got)
	}
	r = skiffAt(f, "secret", "rm", "db")
	wantOK(t, r)
	if r.stdout != "secret db removed\n" {
		t.Fatalf("rm: %q", r.stdout)
	}
	if r := skiffAt(f, "secret", "rm", "in-use"); r.code != 1 || !strings.Contains(r.stderr, "read by service(s) web") {
		t.Fatalf("rm of a secret in use: %+v", r)
	}
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte, 64<<10+1), 0o600); err != nil {
		t.Fatal(err)
	}
	requests := len(f.got())
	for _, bad := range [][]string{{"secret", "set", "-f", big, "db"}, {"secret", "set", "no/slash"}, {"secret", "set"}} {
		if r := skiffAt(f, bad...); r.code != 1 {
			t.Errorf("%v: %+v", bad, r)
		}
	}
	if len(f.got()) != requests {
		t.Fatalf("a refused set reached the API: %q", f.got()[requests:])
	}
}
