package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/skiff-run/skiff/structs"
)

// NewBackup persists a view of the state into a Backup.
func NewBackup(st *State) (*structs.Backup, error) {
	var buf backupSink
	if err := (&snapshot{state: st}).Persist(&buf); err != nil {
		return nil, err
	}
	raw := bytes.TrimSpace(buf.Bytes())
	sum := sha256.Sum256(raw)
	return &structs.Backup{Format: structs.BackupFormat, Index: st.Index(), SHA256: hex.EncodeToString(sum[:]), State: raw}, nil
}

// CheckBackup verifies a backup before it is restored: its format, its
// digest, and that its state decodes as a snapshot of the index it names.
// A backup that passes restores as it was saved.
func CheckBackup(b *structs.Backup) error {
	switch {
	case b.Format != structs.BackupFormat:
		return fmt.Errorf("format %q: not a skiff snapshot of format %s", b.Format, structs.BackupFormat)
	case len(b.State) == 0:
		return errors.New("state: missing")
	}
	sum := sha256.Sum256(b.State)
	if hex.EncodeToString(sum[:]) != b.SHA256 {
		return errors.New("sha256: the state does not match its digest; the file is damaged")
	}
	var data snapshotData
	dec := json.NewDecoder(bytes.NewReader(b.State))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&data); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if data.Index != b.Index {
		return fmt.Errorf("index %d: the state is of index %d", b.Index, data.Index)
	}
	return nil
}

// backupSink is a raft.SnapshotSink that keeps the snapshot in memory.
type backupSink struct{ bytes.Buffer }

func (s *backupSink) ID() string    { return "backup" }
func (s *backupSink) Cancel() error { return nil }
func (s *backupSink) Close() error  { return nil }

// BackupSecrets returns the sealed secrets a checked backup holds, so that
// the agent can tell, before it restores one, whether it holds the keys
// that sealed them.
func BackupSecrets(b *structs.Backup) ([]*structs.Secret, error) {
	var data struct {
		Secrets []*structs.Secret `json:"secrets"`
	}
	if err := json.Unmarshal(b.State, &data); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return data.Secrets, nil
}
