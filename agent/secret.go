package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/token"
)

// clusterSecret finds the cluster's secret: the configured join token, or
// the one kept in the data dir. A configured token is kept for the next
// start; one that differs from the kept one is refused, since this agent
// belongs to the cluster it was formed or joined with. Only a Dev agent,
// or one whose data dir predates tokens, runs without a secret.
func clusterSecret(cfg Config) (*token.Secret, error) {
	kept, ok, err := token.Load(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if cfg.Token != "" {
		s, err := token.Parse(cfg.Token)
		if err != nil {
			return nil, fmt.Errorf("agent: --token: %w", err)
		}
		if ok && s != kept {
			retired, err := token.Retired(cfg.DataDir, s)
			if err != nil {
				return nil, fmt.Errorf("agent: %w", err)
			}
			if retired {
				cfg.Logger.Info("--token is a join token this agent held before the cluster secret rotated; starting with the current one, kept in the data dir")
				return &kept, nil
			}
			return nil, fmt.Errorf("agent: --token differs from the token in %s, the cluster this agent belongs to; give that one, or start on an empty data dir to join another cluster",
				filepath.Join(cfg.DataDir, token.FileName))
		}
		if !ok {
			if err := token.Save(cfg.DataDir, s); err != nil {
				return nil, fmt.Errorf("agent: %w", err)
			}
		}
		return &s, nil
	}
	switch {
	case ok:
		return &kept, nil
	case cfg.Dev:
		return nil, nil
	case hasRaftState(cfg.DataDir):
		cfg.Logger.Warn("this agent's data dir predates cluster tokens: gossip is not encrypted; give every agent the same --token to close it")
		return nil, nil
	}
	return nil, errors.New("agent: no cluster token. Every agent outside --dev needs one: give --token (or SKIFF_TOKEN). " +
		"For a new cluster, make one with `skiff token generate` and give the same to each agent that forms it; " +
		"to join a cluster, `skiff token show` on one of its hosts prints its token")
}

// hasRaftState reports whether the data dir holds a Raft log from an
// earlier start.
func hasRaftState(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "raft", "raft.db"))
	return err == nil
}

// nodeCertificate is this agent's place in the cluster's PKI, from which
// its links to the others and its API take their TLS configurations: a
// certificate for its node id, issued by the CA every agent derives from
// the cluster secret, lasting lifetime and renewed when a third of that is
// left.
func nodeCertificate(s token.Secret, id string, lifetime time.Duration) (*pki.Node, error) {
	ca, err := pki.ClusterCA(s)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	n, err := ca.NewNode(id, lifetime)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return n, nil
}
