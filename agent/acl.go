package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/structs"
	"github.com/skiff-run/skiff/token"
)

// ManagementTokenFile is the file in the data dir that holds the cluster's
// first management token, readable by its owner only.
const ManagementTokenFile = "management-token"

// bootstrapAccessor is the accessor id of the cluster's first management
// token, the same on every agent.
const bootstrapAccessor = "bootstrap"

// keepManagementToken writes the cluster's first management token, which
// every agent derives from the cluster secret, into the data dir, and
// returns its state record for the leader to register.
func keepManagementToken(dataDir string, s token.Secret) (*structs.ACLToken, error) {
	t := s.ManagementToken()
	path := filepath.Join(dataDir, ManagementTokenFile)
	if have, err := os.ReadFile(path); err != nil || string(have) != t+"\n" {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(t+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
	}
	return bootstrapToken(dataDir, s), nil
}

// bootstrapToken is the state record of the management token derived from
// s.
func bootstrapToken(dataDir string, s token.Secret) *structs.ACLToken {
	return &structs.ACLToken{AccessorID: bootstrapAccessor, Name: "bootstrap (" + filepath.Join(dataDir, ManagementTokenFile) + ")",
		Policy: structs.PolicyManagement, SecretHash: token.Hash(s.ManagementToken())}
}

// RotateToken implements api.Backend: it replaces the cluster secret with
// a new one and returns the new join token. The old token keeps working
// for agents already in for RotationGrace, and admits nobody after.
func (a *Agent) RotateToken(ctx context.Context) (string, error) {
	if a.keys == nil {
		return "", fmt.Errorf("%w: this agent runs without a cluster secret (--dev); there is no token to rotate", api.ErrConflict)
	}
	// The leader moves to every rotation already applied first, so that
	// it seals the next secret under the current one.
	a.keys.catchUp(a.fsm.State())
	cur := a.keys.Secret()
	next, err := token.Generate()
	if err != nil {
		return "", err
	}
	sealed, err := cur.Seal(next)
	if err != nil {
		return "", err
	}
	curCA, err := pki.ClusterCA(cur)
	if err != nil {
		return "", err
	}
	nextCA, err := pki.ClusterCA(next)
	if err != nil {
		return "", err
	}
	gen := 1
	if rs := a.fsm.State().Rotations(); len(rs) > 0 {
		gen = rs[len(rs)-1].Generation + 1
	}
	cmd := fsm.RotateSecret{
		Rotation:  structs.SecretRotation{Generation: gen, PrevDigest: curCA.Digest(), Digest: nextCA.Digest(), Sealed: sealed, At: time.Now().UnixMilli()},
		Bootstrap: *bootstrapToken(a.cfg.DataDir, next),
	}
	if _, err := a.commit.Commit(ctx, fsm.CmdRotateSecret, cmd); err != nil {
		return "", err
	}
	a.keys.catchUp(a.fsm.State())
	return next.String(), nil
}

// authorize tells what a request's token may do: an API token in the
// state reads, or manages.
func (a *Agent) authorize(secret string) api.Access {
	t := a.fsm.State().ACLTokenBySecretHash(token.Hash(secret))
	switch {
	case t == nil:
		return api.AccessNone
	case t.Policy == structs.PolicyManagement:
		return api.AccessWrite
	}
	return api.AccessRead
}

// CreateToken implements api.Backend.
func (a *Agent) CreateToken(ctx context.Context, name, policy string) (api.NewToken, error) {
	secret, err := token.NewClientToken()
	if err != nil {
		return api.NewToken{}, err
	}
	t := structs.ACLToken{AccessorID: uuid.NewString(), Name: name, Policy: policy, SecretHash: token.Hash(secret), CreatedAt: time.Now().UnixMilli()}
	if _, err := a.commit.Commit(ctx, fsm.CmdUpsertACLToken, fsm.UpsertACLToken{Token: t}); err != nil {
		return api.NewToken{}, err
	}
	return api.NewToken{TokenInfo: api.TokenInfo{AccessorID: t.AccessorID, Name: t.Name, Policy: t.Policy, CreatedAt: t.CreatedAt}, Secret: secret}, nil
}

// DeleteToken implements api.Backend.
func (a *Agent) DeleteToken(ctx context.Context, accessorID string) error {
	_, err := a.commit.Commit(ctx, fsm.CmdDeleteACLToken, fsm.DeleteACLToken{AccessorID: accessorID})
	return err
}
