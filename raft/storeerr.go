package raft

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// storeErrorFor is how long a failure to write the log is remembered: long
// enough to explain the leaderless spell it causes, short enough that a
// disk made room on stops being blamed soon after.
const storeErrorFor = 30 * time.Second

// storeErrors remembers the last time hashicorp/raft failed to write entries
// to the log store, which it reports only in its log: a leader that cannot
// write steps down, and every election after ends the same way, so that
// all a writer learns from Raft is that no leader is available. It is an
// hclog sink, safe for concurrent use.
type storeErrors struct {
	mu  sync.Mutex
	err error
	at  time.Time
	now func() time.Time
}

// storeFailures are the messages hashicorp/raft logs a failed write of the
// log store under.
var storeFailures = map[string]bool{
	"failed to commit logs":    true, // a leader's write of its new entries
	"failed to append to logs": true, // a follower's write of the leader's
}

func newStoreErrors() *storeErrors { return &storeErrors{now: time.Now} }

// Accept implements hclog.SinkAdapter.
func (s *storeErrors) Accept(_ string, level hclog.Level, msg string, args ...any) {
	if level < hclog.Error || !storeFailures[msg] {
		return
	}
	for i := 0; i+1 < len(args); i += 2 {
		if err, ok := args[i+1].(error); ok && args[i] == "error" {
			s.mu.Lock()
			s.err, s.at = err, s.now()
			s.mu.Unlock()
			return
		}
	}
}

// last returns the newest failure to write the log, if it is recent.
func (s *storeErrors) last() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil || s.now().Sub(s.at) > storeErrorFor {
		return nil
	}
	return s.err
}
