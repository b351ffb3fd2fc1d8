package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestACLTokenCommands(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"POST /v1/acl/tokens":         ok(`{"accessorId":"acc-1","policy":"read-only","name":"ci","secret":"SKC1-abc"}`),
		"GET /v1/acl/tokens":          ok(`[{"accessorId":"acc-1","policy":"read-only","name":"ci","createdAt":1}]`),
		"DELETE /v1/acl/tokens/acc-1": {status: 204},
	})
	r := skiffAt(f, "--token", "SKC1-admin", "acl", "token", "create", "--read-only", "--name", "ci")
	if r.code != 0 || r.stdout != "SKC1-abc\n" || !strings.Contains(r.stderr, "token acc-1 (read-only) created") {
		t.Fatalf("create: %+v", r)
	}
	if got := f.last(t); got.body != `{"name":"ci","policy":"read-only"}` || got.auth != "Bearer SKC1-admin" {
		t.Fatalf("create sent %+v", got)
	}
	r = skiffAt(f, "acl", "token", "list")
	wantOK(t, r)
	if r.stdout != "ACCESSOR  POLICY     NAME\nacc-1     read-only  ci\n" {
		t.Fatalf("list: %q", r.stdout)
	}
	r = skiffAt(f, "acl", "token", "delete", "acc-1")
	wantOK(t, r)
	if r.stdout != "token acc-1 deleted\n" {
		t.Fatalf("delete: %q", r.stdout)
	}
	for _, bad := range [][]string{{"acl", "token", "create"}, {"acl", "token", "create", "--read-only", "--management"}} {
		if r := skiffAt(f, bad...); r.code != 1 || !strings.Contains(r.stderr, "exactly one of --read-only and --management") {
			t.Errorf("%v: %+v", bad, r)
		}
	}
}

// TestClientTokenFromTheDataDir: without --token or SKIFF_TOKEN, a client
// command uses the management token of the agent whose data dir is
// ./skiff-data.
func TestClientTokenFromTheDataDir(t *testing.T) {
	t.Setenv("SKIFF_TOKEN", "")
	f := newFakeAPI(t, map[string]answer{"GET /v1/nodes": ok(`[]`), "GET /v1/tasks": ok(`[]`)})
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.MkdirAll(filepath.Join(dir, "skiff-data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "skiff-data", "management-token"), []byte("SKC1-local\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantOK(t, skiffAt(f, "nodes"))
	if got := f.last(t).auth; got != "Bearer SKC1-local" {
		t.Fatalf("sent %q", got)
	}
	wantOK(t, skiffAt(f, "--token", "SKC1-flag", "nodes"))
	if got := f.last(t).auth; got != "Bearer SKC1-flag" {
		t.Fatalf("sent %q", got)
	}
}
