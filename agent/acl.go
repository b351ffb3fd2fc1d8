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
		if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
	}
	return &structs.ACLToken{AccessorID: bootstrapAccessor, Name: "bootstrap (" + path + ")", Policy: structs.PolicyManagement, SecretHash: token.Hash(t)}, nil
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
