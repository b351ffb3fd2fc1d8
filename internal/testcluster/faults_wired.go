//go:build skiff_faults

package testcluster

import (
	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/internal/faultnet"
)

// FaultsWired reports whether agents take a faultnet.Filter.
const FaultsWired = true

// wireFaults gives the agent its filter, which it passes on to its Raft
// stream layer and its gossip transport.
func wireFaults(cfg *agent.Config, f *faultnet.Filter) { cfg.Faults = f }
