package scheduler

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// BenchmarkPlace plans a fresh job of Count tasks onto an empty cluster
// per iteration, for each strategy and size, and reports placements per
// second, the heap the plan took, and how many nodes it used.
func BenchmarkPlace(b *testing.B) {
	sizes := []struct{ tasks, nodes int }{{10_000, 100}, {100_000, 1_000}, {100_000, 5_000}, {1_000_000, 5_000}}
	kinds := []struct {
		name        string
		strategy    []structs.PlacementStrategy
		constraints []structs.PlacementConstraint
	}{
		{"binpack", nil, nil},
		{"spread", []structs.PlacementStrategy{{Type: "spread", Field: "node"}}, nil},
		{"spread-zone", []structs.PlacementStrategy{{Type: "spread", Field: "attribute:zone"}, {Type: "spread", Field: "node"}}, nil},
		{"binpack+memberOf", nil, []structs.PlacementConstraint{{Type: "memberOf", Expression: "attribute:zone != z1"}}},
	}
	for _, k := range kinds {
		for _, sz := range sizes {
			b.Run(fmt.Sprintf("%s/tasks=%d/nodes=%d", k.name, sz.tasks, sz.nodes), func(b *testing.B) {
				v := newView()
				for i := 0; i < sz.nodes; i++ {
					v.nodes = append(v.nodes, node(fmt.Sprintf("node-%05d", i), 1<<20, 8192, fmt.Sprintf("zone=z%d", i%3)))
				}
				// Tasks are sized so that the whole cluster holds them all
				// (two thirds of it under memberOf).
				mem := int64(sz.nodes) * 8192 * 2 / 3 / int64(sz.tasks)
				td := def(1, min(mem, 256))
				var heap uint64
				used := 0
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					plan := Place(v, Job{Service: fmt.Sprintf("svc-%d", i), TaskDef: td, Count: sz.tasks, Strategy: k.strategy, Constraints: k.constraints})
					runtime.ReadMemStats(&after)
					if plan.Failure != nil {
						b.Fatal(plan.Failure.String())
					}
					heap = max(heap, after.TotalAlloc-before.TotalAlloc)
					nodes := map[string]bool{}
					for _, pl := range plan.Placements {
						nodes[pl.Node] = true
					}
					used = len(nodes)
				}
				b.ReportMetric(float64(sz.tasks)*float64(b.N)/b.Elapsed().Seconds(), "placements/s")
				b.ReportMetric(float64(heap)/(1<<20), "alloc-MiB")
				b.ReportMetric(float64(used), "nodes-used")
			})
		}
	}
}
