package command

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/raft"
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
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the directory holds %v: want the snapshot alone, no temporary file", entries)
	}
}

// An answer that is not a snapshot leaves the file that was there as it
// was, and no temporary file beside it.
func TestSnapshotSaveKeepsTheOldFileOnABadAnswer(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/snapshot": ok(`{"format":`)})
	path := filepath.Join(t.TempDir(), "cluster.snap")
	if err := os.WriteFile(path, []byte(snapshotFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := skiffAt(f, "snapshot", "save", path); r.code != 1 || !strings.Contains(r.stderr, "does not decode") {
		t.Errorf("save of a bad answer: exit %d, stderr %q; want 1, saying it does not decode", r.code, r.stderr)
	}
	if raw, err := os.ReadFile(path); err != nil || string(raw) != snapshotFile {
		t.Errorf("file %q, %v: want the old snapshot kept", raw, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the directory holds %v: want the old snapshot alone", entries)
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

// stoppedAgentDir makes the data dir of a stopped one-voter agent whose
// Raft configuration also names a second voter that is gone.
func stoppedAgentDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "node-id"), []byte("n1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := raft.Open(raft.Config{NodeID: "n1", DataDir: filepath.Join(dir, "raft"), BindAddr: testutil.Addr(t), Bootstrap: true}, fsm.New(nil))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) { return n.IsLeader(), "the one voter does not lead" })
	// The change commits on the one voter's own say, as Raft commits a
	// configuration change under the configuration before it.
	if err := n.AddVoter("n2", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestOperatorRecoverAsksFirst(t *testing.T) {
	dir := stoppedAgentDir(t)
	r := skiff("no\n", "operator", "recover", "--data-dir", dir)
	if r.code != 1 || r.stderr != "skiff: not recovered: the answer was \"no\", not yes\n" || !strings.Contains(r.stdout, "WARNING") || !strings.Contains(r.stdout, "voter n2 at 127.0.0.1:1: removed") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr %q: want the servers, a warning, and a refusal", r.code, r.stdout, r.stderr)
	}
	if _, servers, err := agent.StoppedRaft(dir); err != nil || len(servers) != 2 {
		t.Fatalf("servers after a refusal %+v, %v: want both, unchanged", servers, err)
	}
	r = skiff("yes\n", "operator", "recover", "--data-dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "recovered: 1 voter(s)") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr %q", r.code, r.stdout, r.stderr)
	}
	if _, servers, err := agent.StoppedRaft(dir); err != nil || len(servers) != 1 || servers[0].ID != "n1" || !servers[0].Voter {
		t.Errorf("servers after the recovery %+v, %v: want n1 alone, a voter", servers, err)
	}
	if r := skiff("", "operator", "recover", "--data-dir", dir, "--keep", "n9", "--yes"); r.code != 1 || !strings.Contains(r.stderr, "--keep n9: not a server") {
		t.Errorf("--keep of an unknown server: exit %d, stderr %q", r.code, r.stderr)
	}
}
