package scheduler

import (
	"slices"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// TestPlaceDaemon places one task on every node meant for the daemon that
// lacks one, and explains only the nodes meant for it that cannot take one:
// a drained node or one a constraint excludes is not a failure.
func TestPlaceDaemon(t *testing.T) {
	drained := node("drained", 1000, 1000, "role=edge")
	drained.Eligibility = structs.EligibilityIneligible
	down := node("down", 1000, 1000, "role=edge")
	down.Status = structs.NodeDown
	v := newView(node("free", 1000, 1000, "role=edge"), node("has", 1000, 1000, "role=edge"), node("small1", 1000, 100, "role=edge"),
		node("small2", 1000, 50, "role=edge"), node("core", 1000, 1000, "role=core"), drained, down)
	job := Job{Service: "agent", TaskDef: def(10, 200), Constraints: []structs.PlacementConstraint{
		{Type: "memberOf", Expression: "attribute:role == edge"}, {Type: "distinctInstance"}}}
	v.apply(job, Plan{Placements: []Placement{{Node: "has"}}})

	p := PlaceDaemon(v, job)
	if got := nodesOf(p); !slices.Equal(got, []string{"free"}) {
		t.Fatalf("placed on %v, want [free]", got)
	}
	f := p.Failure
	if f == nil || f.Count != 2 || f.Nodes != 2 || len(f.Reasons) != 1 || f.Reasons[0].Kind != structs.ReasonMemory ||
		f.Reasons[0].Nodes != 2 || f.Reasons[0].MostFree != 100 {
		t.Fatalf("failure = %+v, want 2 of 2 nodes lacking memory, 100 MiB the most free", f)
	}
	t.Log(f.String())

	// The task on "has" stops in the same plan: "has" takes its
	// replacement.
	job.Releasing = map[string]bool{v.byNode["has"][0].ID: true}
	if got := nodesOf(PlaceDaemon(v, job)); !slices.Equal(got, []string{"free", "has"}) {
		t.Fatalf("with has's task releasing: placed on %v, want [free has]", got)
	}
}

func TestExcludes(t *testing.T) {
	job := Job{Service: "agent", TaskDef: def(10, 10), Constraints: []structs.PlacementConstraint{
		{Type: "memberOf", Expression: "attribute:role == edge"}, {Type: "distinctInstance"}}}
	drained := node("d", 1, 1, "role=edge")
	drained.Eligibility = structs.EligibilityIneligible
	for _, c := range []struct {
		node *structs.Node
		want string
	}{
		{node("e", 1, 1, "role=edge"), ""},
		{node("c", 1, 1, "role=core"), "excluded by constraint memberOf attribute:role == edge"},
		{drained, "the node is " + structs.EligibilityIneligible},
	} {
		if got := Excludes(job, c.node); got != c.want {
			t.Errorf("Excludes(%s) = %q, want %q", c.node.ID, got, c.want)
		}
	}
}
