package fsm

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// BenchmarkStateBytesPerTask fills the state with 100,000 running tasks
// and reports the heap they take per task, and the snapshot size per task.
func BenchmarkStateBytesPerTask(b *testing.B) {
	const tasks, batch = 100_000, 1000
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f := New(nil)
		idx := uint64(1)
		for start := 0; start < tasks; start += batch {
			plan := CommitPlan{At: 1}
			for j := start; j < start+batch; j++ {
				plan.Place = append(plan.Place, structs.Task{ID: fmt.Sprintf("%08x-1f3e-4b6a-9c2d-%012x", j, j), Service: fmt.Sprintf("svc-%d", j%100),
					TaskDefinition: "web:1", Node: fmt.Sprintf("node-%d", j%5000), DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending,
					CPU: 64, MemoryMiB: 32, HostPorts: []int{20000 + j%10000}})
			}
			body, err := Encode(CmdCommitPlan, plan)
			if err != nil {
				b.Fatal(err)
			}
			if res, ok := f.ApplyCommand(idx, body).(error); ok {
				b.Fatal(res)
			}
			idx++
			ups := UpdateTaskStatus{}
			for _, t := range plan.Place {
				ups.Updates = append(ups.Updates, TaskStatusUpdate{ID: t.ID, Node: t.Node, LastStatus: structs.StatusRunning, At: 2,
					Containers: []structs.ContainerState{{Name: "app", Status: "running", DockerID: "0123456789ab"}}})
			}
			body, _ = Encode(CmdUpdateTaskStatus, ups)
			f.ApplyCommand(idx, body)
			idx++
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/tasks, "heap-bytes/task")
		snap, _ := f.Snapshot()
		var s sink
		if err := snap.Persist(&s); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(s.Len())/tasks, "snapshot-bytes/task")
		runtime.KeepAlive(f)
	}
}
