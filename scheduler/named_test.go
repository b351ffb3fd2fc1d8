package scheduler

import (
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// A run on named nodes places one task on each, counting the ones before
// it, and refuses the whole run with the named node's reason when one
// cannot take its task.
func TestPlaceOn(t *testing.T) {
	v := newView(node("a", 1024, 512), node("b", 1024, 256))
	job := Job{TaskDef: def(0, 200, 8080)}
	plan := PlaceOn(v, job, []string{"a", "b"})
	if plan.Failure != nil || len(plan.Placements) != 2 || plan.Placements[1].Node != "b" || plan.Placements[0].HostPorts[0] != 8080 {
		t.Fatalf("plan %+v, failure %v", plan.Placements, plan.Failure)
	}
	// Twice on a: the second task's static port is the first's.
	plan = PlaceOn(v, job, []string{"a", "a"})
	if len(plan.Placements) != 0 || plan.Failure == nil || plan.Failure.Node != "a" || plan.Failure.Reasons[0].Kind != structs.ReasonHostPort {
		t.Fatalf("plan %+v, failure %+v: want a refusal for host port 8080 on a", plan.Placements, plan.Failure)
	}
	big := Job{TaskDef: def(0, 300)}
	plan = PlaceOn(v, big, []string{"a", "b"})
	want := "unable to place 2 task(s) on node b: 0 of 1 node can run web:1 (cpu 0, memory 300 MiB): 1 node lack memory (need 300 MiB, most free 256 MiB)"
	if len(plan.Placements) != 0 || plan.Failure.String() != want {
		t.Fatalf("got %d placements, failure %q\nwant %q", len(plan.Placements), plan.Failure, want)
	}
	plan = PlaceOn(v, job, []string{"c"})
	if plan.Failure == nil || !strings.Contains(plan.Failure.String(), "node c is not registered") {
		t.Fatalf("unknown node: %v", plan.Failure)
	}
}

// The scheduler places only in the job's pool, and says so when the pool
// has no nodes.
func TestPlaceKeepsToThePool(t *testing.T) {
	a, b := node("a", 1024, 1024), node("b", 1024, 1024)
	b.Cluster = "garage"
	v := newView(a, b)
	plan := Place(v, Job{TaskDef: def(0, 100), Count: 4, Strategy: []structs.PlacementStrategy{{Type: "spread"}}, Cluster: "garage"})
	for _, n := range nodesOf(plan) {
		if n != "b" {
			t.Fatalf("placed on %v: want only b, the node of cluster garage", nodesOf(plan))
		}
	}
	if len(plan.Placements) != 4 {
		t.Fatalf("placed %d of 4", len(plan.Placements))
	}
	if got := nodesOf(Place(v, Job{TaskDef: def(0, 100), Count: 2, Strategy: []structs.PlacementStrategy{{Type: "spread"}}})); strings.Join(got, ",") != "a,a" {
		t.Fatalf("default pool placed on %v: want a only", got)
	}
	plan = Place(v, Job{TaskDef: def(0, 100), Count: 1, Cluster: "attic"})
	if plan.Failure == nil || !strings.Contains(plan.Failure.String(), "no nodes are registered in cluster attic") {
		t.Fatalf("empty pool: %v", plan.Failure)
	}
	plan = PlaceOn(v, Job{TaskDef: def(0, 100)}, []string{"b"})
	if plan.Failure == nil || plan.Failure.Reasons[0].Kind != structs.ReasonCluster {
		t.Fatalf("a named node of another pool: %+v", plan.Failure)
	}
	if why := Excludes(Job{TaskDef: def(0, 100)}, b); why != "the node is in cluster garage" {
		t.Fatalf("daemon exclusion %q", why)
	}
}
