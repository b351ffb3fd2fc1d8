package api

import (
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// A daemon's desired count, as listed, is the number of nodes meant for
// it: ready, eligible and admitted by its constraints.
func TestDaemonStatusCountsItsNodes(t *testing.T) {
	f := newFake()
	f.state.nodes = append(f.state.nodes,
		&structs.Node{ID: "n3", Status: structs.NodeReady, Eligibility: structs.EligibilityIneligible},
		&structs.Node{ID: "n4", Status: structs.NodeDown, Eligibility: structs.EligibilityEligible},
		&structs.Node{ID: "n5", Status: structs.NodeReady, Eligibility: structs.EligibilityEligible, Attributes: map[string]string{"role": "core"}})
	for _, c := range []struct {
		constraints []structs.PlacementConstraint
		want        int
	}{
		{nil, 3},
		{[]structs.PlacementConstraint{{Type: "memberOf", Expression: "attribute:role == core"}}, 1},
		{[]structs.PlacementConstraint{{Type: "memberOf", Expression: "attribute:role != core"}, {Type: "distinctInstance"}}, 2},
	} {
		svc := &structs.Service{Name: "agent", SchedulingStrategy: structs.SchedulingDaemon, PlacementConstraints: c.constraints}
		if got := status(f.state, svc).DesiredCount; got != c.want {
			t.Errorf("constraints %v: desired %d, want %d", c.constraints, got, c.want)
		}
	}
}
