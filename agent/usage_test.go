package agent

import (
	"context"
	"testing"
	"time"

	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// countingStats answers a fixed sample and counts the calls.
type countingStats struct {
	calls int
	cpu   float64
}

func (c *countingStats) Stats(context.Context, string) ([]runtime.ContainerStats, error) {
	c.calls++
	return []runtime.ContainerStats{{TaskID: "t1", Service: "web", Container: "app", CPUSeconds: c.cpu, MemoryBytes: 5}}, nil
}

func TestUsageSamplerSharesRecentSamples(t *testing.T) {
	st := &countingStats{cpu: 1}
	u := &usageSampler{stats: st, node: "n1"}
	for i := 0; i < 3; i++ {
		if _, cs, err := u.sample(context.Background()); err != nil || len(cs) != 1 || cs[0].MemoryBytes != 5 {
			t.Fatalf("sample %d: %+v, %v", i, cs, err)
		}
	}
	if st.calls != 1 {
		t.Errorf("%d engine calls for three samples within %v, want 1", st.calls, minUsageInterval)
	}
}

func TestContainerUsageCPUPercent(t *testing.T) {
	at := time.Unix(100, 0)
	prev := &usageSample{at: at, stats: []runtime.ContainerStats{{TaskID: "t1", Container: "app", CPUSeconds: 10}}}
	next := &usageSample{at: at.Add(2 * time.Second), stats: []runtime.ContainerStats{
		{TaskID: "t1", Container: "app", CPUSeconds: 11.5},
		{TaskID: "t2", Container: "app", CPUSeconds: 3}}}
	got := containerUsage(prev, next)
	if len(got) != 2 || got[0].CPUPercent != 75 || got[1].CPUPercent != 0 || got[1].CPUSeconds != 3 {
		t.Errorf("usage %+v: want t1 at 75 %% (1.5 s of CPU in 2 s) and t2, new, at 0", got)
	}
}

func TestNodeReservations(t *testing.T) {
	n := &structs.Node{ID: "n1", Name: "pi-1", CPU: 4096, MemoryMiB: 1024}
	tasks := []*structs.Task{
		{ID: "a", CPU: 256, MemoryMiB: 64, DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusRunning},
		{ID: "b", CPU: 512, MemoryMiB: 128, DesiredStatus: structs.StatusStopped, LastStatus: structs.StatusStopped},
	}
	u := nodeReservations(n, tasks)
	if u.Node != "n1" || u.NodeName != "pi-1" || u.CPU != 4096 || u.CPUReserved != 256 || u.MemoryReservedMiB != 64 {
		t.Errorf("reservations %+v: want the node's offer and only the active task's 256 cpu and 64 MiB", u)
	}
}
