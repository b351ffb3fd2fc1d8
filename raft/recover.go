package raft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/skiff-run/skiff/fsm"
)

// restoreTimeout bounds a restore's wait for Raft to take it in.
const restoreTimeout = time.Minute

// Restore replaces the cluster's state with a persisted one (the FSM's
// snapshot format), through Raft: this leader takes it as a snapshot at an
// index after its log's last, and every follower installs it from there.
// It returns once a quorum has an entry after it. Only the leader may.
func (n *Node) Restore(ctx context.Context, state []byte) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	timeout := restoreTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	meta := &hraft.SnapshotMeta{Version: hraft.SnapshotVersionMax, Size: int64(len(state))}
	err := n.raft.Restore(meta, bytes.NewReader(state), timeout)
	if errors.Is(err, hraft.ErrNotLeader) || errors.Is(err, hraft.ErrLeadershipLost) {
		return ErrNotLeader
	}
	if err != nil {
		return fmt.Errorf("raft restore: %w", err)
	}
	return nil
}

// Server is one server of a Raft configuration on disk.
type Server struct {
	ID, Address string
	Voter       bool
}

// openStopped opens the stores of a node that is not running. The log's
// file lock is taken with a short timeout, so that a node that still runs
// is named rather than waited for.
func openStopped(dir string) (*raftboltdb.BoltStore, *hraft.FileSnapshotStore, error) {
	path := filepath.Join(dir, "raft.db")
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("no Raft log in %s: %w", dir, err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bbolt.Options{Timeout: time.Second}})
	if err != nil {
		return nil, nil, fmt.Errorf("open %s (is the agent still running? stop it first): %w", path, err)
	}
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(dir, 2, nil)
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("raft: snapshot store: %w", err)
	}
	return store, snaps, nil
}

// recoveryConfig is the configuration of a node that only reads and
// rewrites its stores.
func recoveryConfig(nodeID string) *hraft.Config {
	c := hraft.DefaultConfig()
	c.LocalID = hraft.ServerID(nodeID)
	c.Logger = hclog.NewNullLogger()
	return c
}

// Configuration reads the newest Raft configuration in the stores of the
// stopped node nodeID whose Raft data dir is dir.
func Configuration(dir, nodeID string) ([]Server, error) {
	store, snaps, err := openStopped(dir)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	_, trans := hraft.NewInmemTransport("")
	conf, err := hraft.GetConfiguration(recoveryConfig(nodeID), fsm.New(nil), store, store, snaps, trans)
	if err != nil {
		return nil, fmt.Errorf("read the Raft configuration: %w", err)
	}
	out := make([]Server, 0, len(conf.Servers))
	for _, s := range conf.Servers {
		out = append(out, Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == hraft.Voter})
	}
	return out, nil
}

// Recover rewrites the stores of the stopped node nodeID so that, when it
// starts, its Raft configuration holds only voters: the peers.json step of
// Consul and Nomad, for a cluster that lost its quorum for good. Every
// server of voters must get the same list before any of them starts. It
// keeps the node's log and state.
func Recover(dir, nodeID string, voters []Server) error {
	if len(voters) == 0 {
		return errors.New("recover: no voters given")
	}
	store, snaps, err := openStopped(dir)
	if err != nil {
		return err
	}
	defer store.Close()
	var conf hraft.Configuration
	for _, s := range voters {
		conf.Servers = append(conf.Servers, hraft.Server{Suffrage: hraft.Voter, ID: hraft.ServerID(s.ID), Address: hraft.ServerAddress(s.Address)})
	}
	_, trans := hraft.NewInmemTransport("")
	if err := hraft.RecoverCluster(recoveryConfig(nodeID), fsm.New(nil), store, store, snaps, trans, conf); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	return nil
}
