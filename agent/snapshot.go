package agent

import (
	"context"
	"fmt"
	"strings"

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

// RestoreSnapshot implements api.Backend: it checks the backup, and that
// this cluster holds the keys its secrets are sealed under, then replaces
// the state through Raft so that every replica takes it.
func (a *Agent) RestoreSnapshot(ctx context.Context, b *structs.Backup) error {
	if err := fsm.CheckBackup(b); err != nil {
		return &api.FieldError{Field: "snapshot", Message: err.Error()}
	}
	if err := a.checkSecretKeys(b); err != nil {
		return err
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

// checkSecretKeys refuses a backup whose secrets this agent cannot open:
// one saved by another cluster (another join token, or another --dev
// agent's key), or one older than a rotation whose retired secret the
// cluster no longer holds. Restored, its tasks that read those secrets
// would fail to start, long after the restore was acknowledged. The
// agent first moves through the rotations its own state records, as
// opening a value does.
func (a *Agent) checkSecretKeys(b *structs.Backup) error {
	secrets, err := fsm.BackupSecrets(b)
	if err != nil {
		return &api.FieldError{Field: "snapshot", Message: err.Error()}
	}
	if a.keys != nil && len(secrets) > 0 {
		a.keys.catchUp(a.fsm.State())
	}
	var unreadable []string
	for _, s := range secrets {
		k, err := a.vault.key(s.KeyID)
		if err != nil {
			return err
		}
		if k == nil {
			unreadable = append(unreadable, fmt.Sprintf("%s (key %s)", s.Name, s.KeyID))
		}
	}
	if len(unreadable) > 0 {
		return &api.FieldError{Field: "snapshot.secrets", Message: fmt.Sprintf("sealed under keys this cluster does not hold: %s; "+
			"the snapshot was saved by another cluster, or before a rotation of the cluster secret whose old secret is retired; "+
			"restore it onto a cluster started with the join token of the one that saved it", strings.Join(unreadable, ", "))}
	}
	return nil
}
