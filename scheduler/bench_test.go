package scheduler

import (
	"fmt"
	"testing"

	"github.com/skiff-run/skiff/fsm"
)

// BenchmarkPlace places Count tasks onto an empty cluster per iteration and
// reports placements per second. Each iteration plans a fresh job.
func BenchmarkPlace(b *testing.B) {
	cases := []struct {
		tasks, nodes int
		strategy     []fsm.PlacementStrategy
		constraints  []fsm.PlacementConstraint
		name         string
	}{
		{10_000, 100, nil, nil, "binpack"},
		{100_000, 5_000, nil, nil, "binpack"},
		{100_000, 5_000, nil, []fsm.PlacementConstraint{{Type: "memberOf", Expression: "attribute:zone != z1"}}, "binpack+memberOf"},
		{10_000, 1_000, []fsm.PlacementStrategy{{Type: "spread", Field: "node"}}, nil, "spread"},
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("%s/tasks=%d/nodes=%d", c.name, c.tasks, c.nodes), func(b *testing.B) {
			v := newView()
			for i := 0; i < c.nodes; i++ {
				v.nodes = append(v.nodes, node(fmt.Sprintf("node-%05d", i), 4096, 8192, fmt.Sprintf("zone=z%d", i%3)))
			}
			// 100,000 tasks of 64 MiB need 6,250 GiB: the nodes are sized
			// so that the cluster holds them all.
			mem := int64(c.nodes) * 8192 / int64(c.tasks)
			if mem > 256 {
				mem = 256
			}
			td := def(1, mem)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				plan := Place(v, Job{Service: fmt.Sprintf("svc-%d", i), TaskDef: td, Count: c.tasks, Strategy: c.strategy, Constraints: c.constraints})
				if plan.Failure != nil && len(c.constraints) == 0 {
					b.Fatal(plan.Failure.Reason)
				}
			}
			b.ReportMetric(float64(c.tasks)*float64(b.N)/b.Elapsed().Seconds(), "placements/s")
		})
	}
}
