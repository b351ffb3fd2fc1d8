package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestClusterPowerCycleOneNeverReturns kills all three agents at once, as
// a power cut does, and brings back two: their gossip rings start empty
// and never hear of the third, which the new leader still counts as dead
// from the start of its term. The third is marked down and its tasks run
// on the two; no task runs twice.
func TestClusterPowerCycleOneNeverReturns(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	runService(t, c, "web", 6)
	goneID := c.Members[2].Agent().ID()
	for _, m := range c.Members {
		c.Kill(m)
	}
	for _, m := range c.Members[:2] {
		c.Restart(m)
	}
	c.WaitReady()
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		st := c.Leader().Agent().State()
		if n := st.Node(goneID); n.Status != structs.NodeDown {
			return false, "the node that never came back is " + n.Status
		}
		run := 0
		for _, task := range st.TasksByService("web") {
			if task.LastStatus == structs.StatusRunning {
				if task.Node == goneID {
					return false, "a task still counts as running on the node that never came back"
				}
				run++
			}
		}
		for id, n := range running(c) {
			if n > 1 {
				return false, "task " + id + " runs twice"
			}
		}
		return run == 6, fmt.Sprintf("%d running on the two", run)
	})
}
