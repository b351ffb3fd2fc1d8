package test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// dbFile is a service of one task with a shared volume (and a bind mount
// of hostPath unless it is empty), placed at random, so that only its data
// can bring a replacement back to the same node.
func dbFile(hostPath string) []byte {
	vols := `{"name":"pgdata","dockerVolumeConfiguration":{"scope":"shared"}}`
	mounts := `{"sourceVolume":"pgdata","containerPath":"/var/lib/db"}`
	if hostPath != "" {
		vols += fmt.Sprintf(`,{"name":"conf","host":{"sourcePath":%q}}`, hostPath)
		mounts += `,{"sourceVolume":"conf","containerPath":"/etc/db"}`
	}
	return []byte(`{"service":"db","desiredCount":1,"placementStrategy":[{"type":"random"}],"taskDefinition":{"family":"db",
	  "volumes":[` + vols + `],"containerDefinitions":[{"name":"db","image":"img","memory":16,"mountPoints":[` + mounts + `]}]}}`)
}

// runningTask waits for the service's one running task and returns it.
func runningTask(t *testing.T, c *testcluster.Cluster, svc, not string) *structs.Task {
	t.Helper()
	var got *structs.Task
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		run := serviceRunning(c, svc)
		if len(run) != 1 || run[0].ID == not {
			return false, fmt.Sprintf("%d running", len(run))
		}
		got = run[0]
		return true, ""
	})
	return got
}

// TestClusterVolumeStickiness: a task with a shared volume goes back to
// the node that holds the volume every time it is replaced, although its
// strategy is random; `skiff volumes` lists the volume on that node; when
// the node is down the replacement goes elsewhere and says why.
func TestClusterVolumeStickiness(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	ctx := context.Background()
	cl := c.Leader().Client()
	if _, err := cl.ApplyService(ctx, "db", dbFile("")); err != nil {
		t.Fatal(err)
	}
	first := runningTask(t, c, "db", "")
	task := first
	for i := 0; i < 6; i++ {
		if _, err := cl.Stop(ctx, task.ID); err != nil {
			t.Fatal(err)
		}
		next := runningTask(t, c, "db", task.ID)
		if next.Node != first.Node || next.PlacementNote != "" {
			t.Fatalf("replacement %d runs on %s (note %q), want %s, which holds the volume", i+1, next.Node, next.PlacementNote, first.Node)
		}
		task = next
	}
	vols, err := cl.Volumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vols) != 1 || vols[0].Node != first.Node || vols[0].Name != "pgdata" || vols[0].Scope != structs.ScopeShared || vols[0].Service != "db" {
		t.Fatalf("volumes %+v, want pgdata on %s alone", vols, first.Node)
	}

	var holder *testcluster.Member
	for _, m := range c.Members {
		if m.Agent().ID() == first.Node {
			holder = m
		}
	}
	c.Kill(holder)
	var moved *structs.Task
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		for _, t := range serviceRunning(c, "db") {
			if t.Node != first.Node {
				moved = t
				return true, ""
			}
		}
		return false, "no replacement on another node yet"
	})
	want := fmt.Sprintf("not on %s, which holds the data of volume pgdata: the node is down", holder.Name)
	if !strings.Contains(moved.PlacementNote, want) {
		t.Fatalf("placement note %q, want it to contain %q", moved.PlacementNote, want)
	}
}

// TestClusterHostPathAllowed: a task that bind mounts a host path runs
// only on a node that allows it, and where none does its service says so,
// naming the agent flag.
func TestClusterHostPathAllowed(t *testing.T) {
	c := testcluster.NewTuned(t, 3, 3, func(cfg *agent.Config) {
		if cfg.Name == "n2" {
			cfg.AllowHostPaths = []string{"/srv"}
		}
	})
	ctx := context.Background()
	cl := c.Leader().Client()
	if _, err := cl.ApplyService(ctx, "db", dbFile("/srv/db/conf")); err != nil {
		t.Fatal(err)
	}
	n2 := c.Members[1].Agent().ID()
	if got := runningTask(t, c, "db", ""); got.Node != n2 {
		t.Fatalf("runs on %s, want n2, the one node allowing /srv", got.Node)
	}
	if _, err := cl.ApplyService(ctx, "db", dbFile("/etc")); err != nil {
		t.Fatal(err)
	}
	want := "3 nodes do not allow host path /etc (agent flag --allow-host-path)"
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		svc := c.Leader().Agent().State().Service("db")
		return strings.Contains(svc.PlacementFailure.String(), want), "placement failure: " + svc.PlacementFailure.String()
	})
}
