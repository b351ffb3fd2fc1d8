package test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
)

// TestClusterMetricsAndUsage scrapes an agent's metrics with the cluster's
// token, and asks a follower for every node's usage, which it gathers from
// the other agents over the agent link.
func TestClusterMetricsAndUsage(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	runService(t, c, "web", 1)
	task := serviceRunning(c, "web")[0]
	var host *testcluster.Member
	for _, m := range c.Members {
		if m.Agent().ID() == task.Node {
			host = m
		}
	}
	host.Runtime.SetStats(task.ID, "app", runtime.ContainerStats{CPUSeconds: 2.5, MemoryBytes: 3 << 20, NetRxBytes: 100, NetTxBytes: 200})
	ctx := context.Background()
	raw, err := host.Client().Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	body := string(raw)
	for _, want := range []string{
		fmt.Sprintf(`skiff_task_cpu_seconds_total{container="app",service="web",task=%q} 2.5`, task.ID),
		fmt.Sprintf(`skiff_task_memory_bytes{container="app",service="web",task=%q} 3.145728e+06`, task.ID),
		`skiff_gossip_members{state="alive"} 3`,
		"skiff_raft_applied_index ",
		"skiff_node_cpu_reserved_units{",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics of %s lack %q:\n%s", host.Name, want, body)
		}
	}
	leader := c.Leader()
	raw, err = leader.Client().Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "skiff_raft_leader 1") || !strings.Contains(string(raw), "skiff_scheduler_placements_total 1") {
		t.Errorf("the leader's metrics lack its leadership or its one placement:\n%s", raw)
	}
	if regexp.MustCompile(`(?m)^skiff_raft_leader_changes_total [1-9]`).Find(raw) == nil {
		t.Errorf("the leader's metrics count no change of leader, though it was elected:\n%s", raw)
	}
	var follower *testcluster.Member
	for _, m := range c.Members {
		if m != leader && m != host {
			follower = m
		}
	}
	if follower == nil {
		follower = host
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		usage, err := follower.Client().Usage(ctx, "")
		if err != nil {
			return false, err.Error()
		}
		found := 0
		for _, n := range usage {
			if n.Error != "" {
				return false, fmt.Sprintf("node %s: %s", n.NodeName, n.Error)
			}
			for _, cu := range n.Containers {
				if cu.Task == task.ID && n.Node == task.Node && cu.CPUSeconds == 2.5 && cu.MemoryBytes == 3<<20 && cu.NetTxBytes == 200 {
					found++
				}
			}
		}
		return len(usage) == 3 && found == 1, fmt.Sprintf("usage %+v: want 3 nodes and the task's container on its node", usage)
	})
}
