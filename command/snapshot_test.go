package command

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const snapshotFile = `{"format":"skiff-snapshot/1","index":12,"sha256":"ab","state":{"index":12}}` + "\n"

func TestSnapshotSave(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/snapshot": ok(snapshotFile)})
	path := filepath.Join(t.TempDir(), "cluster.snap")
	r := skiffAt(f, "snapshot", "save", path)
	wantOK(t, r)
	if r.stdout != fmt.Sprintf("saved the state at index 12 to %s (%d bytes)\n", path, len(snapshotFile)) {
		t.Errorf("stdout %q", r.stdout)
	}
	raw, err := os.ReadFile(path)
	if err != nil || string(raw) != snapshotFile {
		t.Errorf("file %q, %v: want the agent's answer as it came", raw, err)
	}
	if left, _ := filepath.Glob(path + ".*.tmp"); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestSnapshotRestore(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"PUT /v1/snapshot": ok(`{"index":12}`)})
	path := filepath.Join(t.TempDir(), "cluster.snap")
	if err := os.WriteFile(path, []byte(snapshotFile), 0o600); err != nil {
		t.Fatal(err)
	}
	r := skiffAt(f, "snapshot", "restore", path)
	wantOK(t, r)
	if req := f.last(t); req.body != snapshotFile || r.stdout != "restored the state saved at index 12; every agent now holds it\n" {
		t.Errorf("sent %q, stdout %q: want the file sent as it is", req.body, r.stdout)
	}
	if r := skiffAt(f, "snapshot", "restore", filepath.Join(t.TempDir(), "none")); r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("restore of a missing file: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestOperatorRecoverRefuses(t *testing.T) {
	dir := t.TempDir()
	r := skiff("", "operator", "recover", "--data-dir", dir, "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "holds no node id") {
		t.Errorf("recover of an empty dir: exit %d, stderr %q", r.code, r.stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "node-id"), []byte("n1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = skiff("", "operator", "recover", "--data-dir", dir, "--yes")
	if r.code != 1 || !strings.Contains(r.stderr, "no Raft log in") {
		t.Errorf("recover of a dir without a log: exit %d, stderr %q", r.code, r.stderr)
	}
}
