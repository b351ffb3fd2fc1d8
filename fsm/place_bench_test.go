package fsm

import (
	"fmt"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// BenchmarkCheckedPlacement sets the cost of a PlaceTasks entry, whose
// placements Apply checks with the scheduler, beside a CommitPlan entry of
// the same placements, which Apply takes as the leader planned them. Both
// place 400 one-off tasks (MaxTasksPerEntry) on 4 of 100 nodes that run
// 20,000 tasks between them, each iteration onto the same state.
func BenchmarkCheckedPlacement(b *testing.B) {
	const nodes, running, entry = 100, 20_000, MaxTasksPerEntry
	f := New(nil)
	idx := uint64(1)
	applyOrFail := func(t CommandType, body any) {
		raw, err := Encode(t, body)
		if err != nil {
			b.Fatal(err)
		}
		if err, ok := f.ApplyCommand(idx, raw).(error); ok {
			b.Fatal(err)
		}
		idx++
	}
	for i := range nodes {
		applyOrFail(CmdRegisterNode, RegisterNode{Node: structs.Node{ID: fmt.Sprintf("node-%d", i), CPU: 1 << 30, MemoryMiB: 1 << 30, PortMin: 20000, PortMax: 32767}})
	}
	applyOrFail(CmdRegisterTaskDefinition, RegisterTaskDefinition{TaskDefinition: *webDef("a")})
	for start := 0; start < running; start += entry {
		plan := CommitPlan{At: 1}
		for j := start; j < start+entry; j++ {
			plan.Place = append(plan.Place, structs.Task{ID: fmt.Sprintf("run-%08d", j), TaskDefinition: "web:1", Node: fmt.Sprintf("node-%d", j%nodes),
				DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusRunning, CPU: 64, MemoryMiB: 32})
		}
		applyOrFail(CmdCommitPlan, plan)
	}
	base := f.live
	tasks := make([]structs.Task, entry)
	for i := range tasks {
		tasks[i] = structs.Task{ID: fmt.Sprintf("new-%08d", i), TaskDefinition: "web:1", Node: fmt.Sprintf("node-%d", i%4),
			DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending, CPU: 64, MemoryMiB: 32}
	}
	for _, bc := range []struct {
		name string
		t    CommandType
		body any
	}{
		{"commitPlan", CmdCommitPlan, CommitPlan{Place: tasks, At: 2}},
		{"placeTasks", CmdPlaceTasks, PlaceTasks{New: tasks, At: 2}},
	} {
		raw, err := Encode(bc.t, bc.body)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				f.live = base
				if err, ok := f.ApplyCommand(idx, raw).(error); ok {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/entry, "µs/task")
		})
	}
}
