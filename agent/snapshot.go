package agent

import (
	"context"
	"fmt"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/structs"
)

// SaveSnapshot implements api.Backend: the leader's state, after a
// barrier, so that it holds every write acknowledged before the request.
func (a *Agent) SaveSnapshot(ctx context.Context) (*structs.Backup, error) {
	if !a.raft.IsLeader() {
		return nil, fmt.Errorf("%w: snapshots are taken by the leader", api.ErrUnavailable)
	}
	if err := a.raft.Barrier(ctx); err != nil {
		return nil, fmt.Errorf("%w: barrier before the snapshot: %v", api.ErrUnavailable, err)
	}
	return fsm.NewBackup(a.fsm.State())
}

// RestoreSnapshot implements api.Backend: it checks the backup, then
// replaces the state through Raft so that every replica takes it.
func (a *Agent) RestoreSnapshot(ctx context.Context, b *structs.Backup) error {
	if err := fsm.CheckBackup(b); err != nil {
		return &api.FieldError{Field: "snapshot", Message: err.Error()}
	}
	err := a.raft.Restore(ctx, b.State)
	if err == raft.ErrNotLeader {
		return fmt.Errorf("%w: this agent stopped leading before the restore", api.ErrUnavailable)
	}
	if err != nil {
		return err
	}
	a.log.Warn("the cluster's state was replaced by a restored snapshot", "index", b.Index)
	return nil
}
