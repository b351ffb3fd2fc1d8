package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiff-run/skiff/raft"
)

// StoppedRaft reads a stopped agent's data dir: its node id and the
// newest Raft configuration of its log. It fails, saying so, while the
// agent runs.
func StoppedRaft(dataDir string) (id string, servers []raft.Server, err error) {
	raw, err := os.ReadFile(filepath.Join(dataDir, "node-id"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, fmt.Errorf("%s holds no node id: not the data dir of an agent that has run", dataDir)
	}
	if err != nil {
		return "", nil, err
	}
	id = strings.TrimSpace(string(raw))
	servers, err = raft.Configuration(filepath.Join(dataDir, "raft"), id)
	return id, servers, err
}

// Recover rewrites a stopped agent's Raft configuration to hold only
// voters (see raft.Recover).
func Recover(dataDir string, voters []raft.Server) error {
	id, _, err := StoppedRaft(dataDir)
	if err != nil {
		return err
	}
	return raft.Recover(filepath.Join(dataDir, "raft"), id, voters)
}
