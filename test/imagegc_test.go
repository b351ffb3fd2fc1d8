package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
)

// TestClusterNodesShowDisk: each node registers how full its engine's
// data root is, and every replica shows it.
func TestClusterNodesShowDisk(t *testing.T) {
	c := testcluster.NewTuned(t, 3, 3, func(cfg *agent.Config) {
		cfg.Runtime.(*runtime.Fake).SetDisk(37, 100)
	})
	for _, m := range c.Members {
		testutil.Eventually(t, 20*time.Second, func() (bool, string) {
			nodes := m.Agent().State().Nodes()
			for _, n := range nodes {
				if n.DiskUsedPercent != 37 {
					return false, fmt.Sprintf("%s sees node %s at %d %%, want 37", m.Name, n.Name, n.DiskUsedPercent)
				}
			}
			return len(nodes) == 3, fmt.Sprintf("%s sees %d nodes", m.Name, len(nodes))
		})
	}
}
