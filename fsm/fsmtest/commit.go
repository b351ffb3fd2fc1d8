// Package fsmtest runs the state machine without Raft, for tests of the
// loops above it: commands are applied at once, in order, to a real FSM.
package fsmtest

import (
	"context"
	"sync"

	"github.com/skiff-run/skiff/fsm"
)

// Committer applies every command straight to its FSM, as a one-node
// cluster would. It is safe for concurrent use.
type Committer struct {
	FSM *fsm.FSM

	mu    sync.Mutex
	index uint64
}

// New returns a committer over a new, empty FSM.
func New() *Committer { return &Committer{FSM: fsm.New(nil)} }

// Commit encodes and applies one command and returns the FSM's answer.
func (c *Committer) Commit(_ context.Context, t fsm.CommandType, body any) (any, error) {
	cmd, err := fsm.Encode(t, body)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.index++
	res := c.FSM.ApplyCommand(c.index, cmd)
	if err, ok := res.(error); ok {
		return nil, err
	}
	return res, nil
}
