package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/structs"
	"github.com/skiff-run/skiff/token"
)

// vault seals and opens the values of `skiff secret set` with keys derived
// from the cluster secret, which every agent holds: the value is sealed
// before its command is built, so that the log, the snapshots and every
// replica hold only ciphertext, and any node opens it when it starts a
// task that reads it. Its methods are safe for concurrent use.
type vault struct {
	// keys is the agent's cluster secret, nil without one. local is the
	// key of an agent without a cluster secret (--dev), kept in its data
	// dir; nil too on an agent whose data dir predates tokens, which
	// refuses secrets.
	keys  *keys
	local *token.ValueKey
}

// errNoKey refuses secrets on an agent with nothing to seal them under.
var errNoKey = fmt.Errorf("%w: this cluster has no join token, and secrets are sealed under a key derived from it; give every agent the same --token", api.ErrConflict)

// current is the key new values are sealed under.
func (v *vault) current() (*token.ValueKey, error) {
	if v.keys == nil {
		if v.local == nil {
			return nil, errNoKey
		}
		return v.local, nil
	}
	return v.keys.Secret().ValueKey()
}

// key finds the key of id among those the agent holds, nil when none is.
func (v *vault) key(id string) (*token.ValueKey, error) {
	if v.keys == nil {
		if v.local != nil && v.local.ID() == id {
			return v.local, nil
		}
		return nil, nil
	}
	for _, s := range v.keys.Secrets() {
		k, err := s.ValueKey()
		if err != nil {
			return nil, err
		}
		if k.ID() == id {
			return k, nil
		}
	}
	return nil, nil
}

// Seal seals value as the secret name under the current key.
func (v *vault) Seal(name string, value []byte) (structs.Secret, error) {
	k, err := v.current()
	if err != nil {
		return structs.Secret{}, err
	}
	sealed, err := k.Seal(name, value)
	if err != nil {
		return structs.Secret{}, err
	}
	return structs.Secret{Name: name, KeyID: k.ID(), Sealed: sealed, Size: len(value)}, nil
}

// Open implements node.Opener. A value sealed under a key the agent does
// not hold yet (the cluster secret rotated and the agent has not moved)
// is tried again once the agent has moved through st's rotations.
func (v *vault) Open(st *fsm.State, name string) ([]byte, error) {
	s := st.Secret(name)
	if s == nil {
		return nil, fmt.Errorf("secret %s does not exist (`skiff secret set %s` makes it)", name, name)
	}
	k, err := v.key(s.KeyID)
	if err == nil && k == nil && v.keys != nil {
		v.keys.catchUp(st)
		k, err = v.key(s.KeyID)
	}
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, fmt.Errorf("secret %s is sealed under key %s, which this agent does not hold (a cluster secret retired before the value was sealed again); set it again", name, s.KeyID)
	}
	return k.Open(name, s.Sealed)
}

// SetSecret implements api.Backend. The leader takes the request (over
// mutual TLS when another agent passed it on) and seals the value under
// the newest cluster secret before the command is built.
func (a *Agent) SetSecret(ctx context.Context, name string, value []byte) (*structs.Secret, error) {
	if a.keys != nil {
		a.keys.catchUp(a.fsm.State())
	}
	s, err := a.vault.Seal(name, value)
	if err != nil {
		return nil, err
	}
	if _, err := a.commit.Commit(ctx, fsm.CmdSetSecret, fsm.SetSecret{Secret: s, At: now()}); err != nil {
		return nil, err
	}
	return a.fsm.State().Secret(name), nil
}

// DeleteSecret implements api.Backend.
func (a *Agent) DeleteSecret(ctx context.Context, name string) error {
	_, err := a.commit.Commit(ctx, fsm.CmdDeleteSecret, fsm.DeleteSecret{Name: name})
	if errors.Is(err, fsm.ErrInUse) {
		return fmt.Errorf("%w: %v", api.ErrConflict, err)
	}
	return err
}

// maxResealBytes bounds the sealed values of one ResealSecrets entry, as
// status batches are bounded, so that every entry stays well under the
// API's body cap and applies quickly.
const maxResealBytes = 512 << 10

// resealLoop keeps every secret sealed under the current cluster secret:
// while this agent leads, a value sealed under a secret the agent still
// holds from before a rotation is opened and sealed again under the
// current one, so that agents that join with the new token, or restart
// after the grace, open it too. It runs until the agent's context ends.
func (a *Agent) resealLoop() {
	for {
		changed := a.fsm.Watch()
		if a.raft.IsLeader() {
			if err := a.reseal(a.ctx); err != nil && a.ctx.Err() == nil {
				a.log.Warn("seal secrets again under the rotated cluster secret", "err", err)
				if !sleep(a.ctx, time.Second) {
					return
				}
			}
		}
		select {
		case <-a.ctx.Done():
			return
		case <-changed:
		}
	}
}

// reseal commits, in bounded batches, every secret sealed under an older
// key that this agent holds, sealed again under the current one.
func (a *Agent) reseal(ctx context.Context) error {
	st := a.fsm.State()
	a.keys.catchUp(st)
	cur, err := a.vault.current()
	if err != nil {
		return err
	}
	var batch []fsm.Reseal
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := a.commit.Commit(ctx, fsm.CmdResealSecrets, fsm.ResealSecrets{Secrets: batch})
		batch, size = nil, 0
		return err
	}
	for _, s := range st.Secrets() {
		if s.KeyID == cur.ID() {
			continue
		}
		k, err := a.vault.key(s.KeyID)
		if err != nil {
			return err
		}
		if k == nil {
			// Not the agent's to fix: Open says so when a task needs it.
			continue
		}
		v, err := k.Open(s.Name, s.Sealed)
		if err != nil {
			return err
		}
		sealed, err := cur.Seal(s.Name, v)
		if err != nil {
			return err
		}
		if size+len(sealed) > maxResealBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, fsm.Reseal{Name: s.Name, Version: s.Version, KeyID: cur.ID(), Sealed: sealed})
		size += len(sealed)
	}
	return flush()
}

// newVault gives the agent its vault: over the cluster secret's keys, or,
// for a --dev agent without one, over a key kept in its data dir.
func newVault(cfg Config, k *keys) (*vault, error) {
	if k != nil || !cfg.Dev {
		return &vault{keys: k}, nil
	}
	s, err := token.LocalSecret(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	local, err := s.ValueKey()
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return &vault{local: local}, nil
}
