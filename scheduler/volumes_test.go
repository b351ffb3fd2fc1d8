package scheduler

import (
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// withVolumes gives a definition a shared volume and a bind mount of
// hostPath (none when empty).
func withVolumes(td *structs.TaskDefinition, hostPath string) *structs.TaskDefinition {
	td.Volumes = []structs.Volume{{Name: "data", DockerVolumeConfiguration: &structs.DockerVolumeConfiguration{Scope: structs.ScopeShared}}}
	if hostPath != "" {
		td.Volumes = append(td.Volumes, structs.Volume{Name: "conf", Host: &structs.HostVolume{SourcePath: hostPath}})
	}
	return td
}

func TestHostPathFilter(t *testing.T) {
	a, b, c := node("a", 1024, 1024), node("b", 1024, 1024), node("c", 1024, 1024)
	b.AllowedHostPaths = []string{"/srv"}
	c.AllowedHostPaths = []string{"/srv/other"}
	v := newView(a, b, c)
	td := withVolumes(def(0, 64), "/srv/data")
	plan := Place(v, Job{Service: "db", TaskDef: td, Count: 1})
	if got := nodesOf(plan); len(got) != 1 || got[0] != "b" || plan.Failure != nil {
		t.Fatalf("placed on %v (%v), want b, the one node allowing /srv/data", got, plan.Failure)
	}
	b.AllowedHostPaths = nil
	plan = Place(v, Job{Service: "db", TaskDef: td, Count: 1})
	want := "0 of 3 nodes can run web:1 (cpu 0, memory 64 MiB): 3 nodes do not allow host path /srv/data (agent flag --allow-host-path)"
	if len(plan.Placements) != 0 || !strings.HasSuffix(plan.Failure.String(), want) {
		t.Fatalf("got %v, want a failure ending %q", plan.Failure, want)
	}
	if r := plan.Failure.Reasons[0]; r.Kind != structs.ReasonHostPath || r.Detail != "/srv/data" {
		t.Errorf("reason %+v", r)
	}
	// A definition without host paths goes anywhere.
	if plan := Place(v, Job{Service: "db", TaskDef: withVolumes(def(0, 64), ""), Count: 3}); len(plan.Placements) != 3 {
		t.Errorf("shared volume only: %v", plan.Failure)
	}
}

func TestPreferredNode(t *testing.T) {
	td := withVolumes(def(0, 256), "")
	cases := []struct {
		name      string
		setup     func(a, b, c *structs.Node, v *view)
		preferred []string
		count     int
		want      []string
		note      string
	}{
		// Binpack alone would take a, the first of equal nodes.
		{"back to the node with the data", nil, []string{"c"}, 1, []string{"c"}, ""},
		// The third task has no preferred node left: binpack fills b.
		{"one preferred node per task, then the strategy", nil, []string{"c", "b"}, 3, []string{"c", "b", "b"}, ""},
		{"down", func(a, b, c *structs.Node, v *view) { c.Status = structs.NodeDown }, []string{"c"}, 1, []string{"a"},
			"placed on a, not on c, which holds the data of volume data: the node is down"},
		{"drained", func(a, b, c *structs.Node, v *view) { c.Eligibility = structs.EligibilityIneligible }, []string{"c"}, 1, []string{"a"},
			"placed on a, not on c, which holds the data of volume data: the node is ineligible"},
		{"full", func(a, b, c *structs.Node, v *view) { c.MemoryMiB = 128 }, []string{"c"}, 1, []string{"a"},
			"placed on a, not on c, which holds the data of volume data: not enough memory free"},
		{"gone", nil, []string{"gone"}, 1, []string{"a"},
			"placed on a, not on gone, which held the data of volume data: it is no longer registered"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			na, nb, nc := node("a", 1024, 1024), node("b", 1024, 1024), node("c", 1024, 1024)
			na.Name, nb.Name, nc.Name = "a", "b", "c"
			v := newView(na, nb, nc)
			if c.setup != nil {
				c.setup(na, nb, nc, v)
			}
			plan := Place(v, Job{Service: "db", TaskDef: td, Count: c.count, Preferred: c.preferred})
			if got := strings.Join(nodesOf(plan), ","); got != strings.Join(c.want, ",") {
				t.Fatalf("placed on %s, want %s (%v)", got, strings.Join(c.want, ","), plan.Failure)
			}
			if got := plan.Placements[0].Note; got != c.note {
				t.Errorf("note %q, want %q", got, c.note)
			}
			for _, pl := range plan.Placements[1:] {
				if pl.Note != "" {
					t.Errorf("note on a placement that had no preferred node: %q", pl.Note)
				}
			}
		})
	}
}

// A preferred node is still refused a task whose host path it does not
// allow, and the note says so.
func TestPreferredNodeKeepsHostPathRule(t *testing.T) {
	a, b := node("a", 1024, 1024), node("b", 1024, 1024)
	a.AllowedHostPaths = []string{"/srv"}
	plan := Place(newView(a, b), Job{Service: "db", TaskDef: withVolumes(def(0, 64), "/srv/data"), Count: 1, Preferred: []string{"b"}})
	if got := nodesOf(plan); len(got) != 1 || got[0] != "a" ||
		!strings.Contains(plan.Placements[0].Note, "host path /srv/data not allowed (agent flag --allow-host-path)") {
		t.Fatalf("placed on %v: %+v", got, plan.Placements)
	}
}
