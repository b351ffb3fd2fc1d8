package fsm

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"

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

// BenchmarkStateScale applies Tasks tasks the way the control plane does,
// in CommitPlan entries of MaxTasksPerEntry placements each followed by an
// UpdateTaskStatus entry that reports them RUNNING, taking a read view after
// every entry as the loops above the FSM do. It reports the apply rate, the
// heap per task, and the snapshot's size, write time and restore time, so
// that the cost of each can be seen to grow with the number of tasks. The
// 1,000,000-task case runs only with SKIFF_BENCH_C1M=1.
func BenchmarkStateScale(b *testing.B) {
	for _, tasks := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("tasks=%d", tasks), func(b *testing.B) {
			if tasks > 100_000 && os.Getenv("SKIFF_BENCH_C1M") != "1" {
				b.Skip("set SKIFF_BENCH_C1M=1 to run the 1,000,000-task case")
			}
			for i := 0; i < b.N; i++ {
				benchStateScale(b, tasks)
			}
		})
	}
}

func benchStateScale(b *testing.B, tasks int) {
	b.StopTimer()
	// Encode every entry first, so that the measured time is the FSM's.
	var entries [][]byte
	rnd := rand.New(rand.NewPCG(1, 2))
	for start := 0; start < tasks; start += MaxTasksPerEntry {
		plan := CommitPlan{At: 1}
		for j := start; j < min(tasks, start+MaxTasksPerEntry); j++ {
			// Ids are random, as the leader's uuids are, so that inserts
			// land all over the tree; the seed is fixed, so that every
			// run applies the same entries.
			id := fmt.Sprintf("%08x-1f3e-4b6a-9c2d-%012x", rnd.Uint32(), j)
			plan.Place = append(plan.Place, structs.Task{ID: id, Service: fmt.Sprintf("svc-%d", j/10_000),
				TaskDefinition: "web:1", Node: fmt.Sprintf("node-%d", j/200%5000), DesiredStatus: structs.StatusRunning,
				LastStatus: structs.StatusPending, CPU: 1, MemoryMiB: 16, HostPorts: []int{20000 + j%10000}})
		}
		ups := UpdateTaskStatus{}
		for _, t := range plan.Place {
			ups.Updates = append(ups.Updates, TaskStatusUpdate{ID: t.ID, Node: t.Node, LastStatus: structs.StatusRunning, At: 2,
				Containers: []structs.ContainerState{{Name: "app", Status: "running", DockerID: "0123456789ab"}}})
		}
		for _, cmd := range []struct {
			t    CommandType
			body any
		}{{CmdCommitPlan, plan}, {CmdUpdateTaskStatus, ups}} {
			body, err := Encode(cmd.t, cmd.body)
			if err != nil {
				b.Fatal(err)
			}
			entries = append(entries, body)
		}
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f := New(nil)
	b.StartTimer()
	start := time.Now()
	for i, e := range entries {
		if res, ok := f.ApplyCommand(uint64(i+1), e).(error); ok {
			b.Fatal(res)
		}
		_ = f.State()
	}
	applied := time.Since(start)
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	// The entries were on the heap before and still are, so that the
	// difference is the state alone.
	runtime.KeepAlive(entries)
	if n := len(f.State().Tasks()); n != tasks {
		b.Fatalf("%d tasks in the state, want %d", n, tasks)
	}
	start = time.Now()
	snap, _ := f.Snapshot()
	var s sink
	if err := snap.Persist(&s); err != nil {
		b.Fatal(err)
	}
	persisted := time.Since(start)
	start = time.Now()
	if err := New(nil).Restore(io.NopCloser(bytes.NewReader(s.Bytes()))); err != nil {
		b.Fatal(err)
	}
	restored := time.Since(start)
	b.ReportMetric(applied.Seconds(), "s-apply")
	b.ReportMetric(float64(tasks)/applied.Seconds(), "tasks/s")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(tasks), "heap-bytes/task")
	b.ReportMetric(float64(s.Len())/float64(tasks), "snapshot-bytes/task")
	b.ReportMetric(persisted.Seconds(), "s-snapshot")
	b.ReportMetric(restored.Seconds(), "s-restore")
	runtime.KeepAlive(f)
	b.StartTimer()
}
