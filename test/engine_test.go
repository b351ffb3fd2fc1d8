package test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestClusterEngineOutage stops one node's container engine (its agent
// keeps running): the node reports it, the leader marks the node down with
// the engine's error as the reason and places its tasks on the others.
// When the engine answers again the node is ready, and the containers it
// still had for tasks that moved are stopped, so that no task runs twice.
func TestClusterEngineOutage(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	runService(t, c, "web", 6)
	var victim *testcluster.Member
	for _, m := range c.Members {
		if m != c.Leader() {
			victim = m
		}
	}
	id := victim.Agent().ID()
	victim.Runtime.SetDown(errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock"))
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		st := c.Leader().Agent().State()
		n := st.Node(id)
		if n.Status != structs.NodeDown || !strings.Contains(n.StatusReason, "Cannot connect to the Docker daemon") {
			return false, fmt.Sprintf("the node is %s (%s)", n.Status, n.StatusReason)
		}
		run := 0
		for _, task := range serviceRunning(c, "web") {
			if task.Node == id {
				return false, "a task still counts as running on the node without an engine"
			}
			run++
		}
		return run == 6, fmt.Sprintf("%d running elsewhere", run)
	})
	victim.Runtime.SetDown(nil)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		if n := c.Leader().Agent().State().Node(id); n.Status != structs.NodeReady || n.EngineError != "" {
			return false, fmt.Sprintf("the node is %s, engine error %q", n.Status, n.EngineError)
		}
		for tid, n := range running(c) {
			if n > 1 {
				return false, "task " + tid + " runs twice"
			}
		}
		if n := len(victim.Runtime.Running()); n != 0 {
			return false, fmt.Sprintf("the node still runs %d containers of tasks that moved", n)
		}
		return len(serviceRunning(c, "web")) == 6, "waiting for 6 running"
	})
	c.EnsureSame(t)
}
