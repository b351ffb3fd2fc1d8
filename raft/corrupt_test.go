package raft

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// damage writes a log, closes the node and damages raft.db with fn.
func damage(t *testing.T, fn func(path string, size int64)) string {
	t.Helper()
	dir := t.TempDir()
	n, _ := openLeader(t, dir, testutil.Addr(t))
	for i := range 50 {
		if _, err := n.Apply(context.Background(), mustEncode(t, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: string(rune('a' + i%26))}}), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "raft.db")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	fn(path, st.Size())
	return dir
}

// TestDamagedLogIsAClearError: a log store cut short, zeroed or with
// garbage in its pages stops Open with an error that names the file and
// says what to do, never a panic and never a silently empty node.
func TestDamagedLogIsAClearError(t *testing.T) {
	cases := map[string]func(path string, size int64){
		"truncated": func(path string, size int64) {
			if err := os.Truncate(path, size/3); err != nil {
				t.Fatal(err)
			}
		},
		"zeroed": func(path string, size int64) {
			if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"garbage in the pages": func(path string, size int64) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
			for off := int64(8192); off < size; off += 8192 {
				f.WriteAt(junk, off)
			}
			f.Close()
		},
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			dir := damage(t, fn)
			n, err := Open(Config{NodeID: "n1", DataDir: dir, BindAddr: testutil.Addr(t), Bootstrap: true}, fsm.New(nil))
			if err == nil {
				n.Close()
				t.Fatal("a damaged log opened")
			}
			for _, want := range []string{filepath.Join(dir, "raft.db"), "is damaged", "move the data dir aside"} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("the error does not say %q: %v", want, err)
				}
			}
		})
	}
}
