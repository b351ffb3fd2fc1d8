package raft

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// A failure to write the log is remembered for half a minute; other
// errors, and warnings, are not.
func TestStoreErrorsRemembersLogWriteFailures(t *testing.T) {
	now := time.Unix(1000, 0)
	s := newStoreErrors()
	s.now = func() time.Time { return now }
	s.Accept("raft", hclog.Error, "failed to heartbeat to", "peer", "n2", "error", errors.New("refused"))
	s.Accept("raft", hclog.Warn, "failed to commit logs", "error", syscall.ENOSPC)
	if err := s.last(); err != nil {
		t.Fatalf("after unrelated errors and a warning: %v, want none", err)
	}
	full := &wrapped{syscall.ENOSPC}
	s.Accept("raft", hclog.Error, "failed to commit logs", "error", full)
	if err := s.last(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("after a failed commit: %v, want the disk-full error", err)
	}
	now = now.Add(storeErrorFor + time.Second)
	if err := s.last(); err != nil {
		t.Errorf("half a minute later: %v, want none", err)
	}
	s.Accept("raft", hclog.Error, "failed to append to logs", "error", full)
	if err := s.last(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("after a follower's failed append: %v, want the disk-full error", err)
	}
}

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "write raft.db: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }
