package scheduler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// A task that asks for more of the host than an ordinary container goes
// only to nodes that allow privileged containers, and the failure says
// which flag allows them and what the task asks for.
func TestPrivilegedFilter(t *testing.T) {
	a, b, c := node("a", 1024, 1024), node("b", 1024, 1024), node("c", 1024, 1024)
	v := newView(a, b, c)
	td := def(0, 64)
	td.ContainerDefinitions[0].Privileged = true
	plan := Place(v, Job{Service: "p", TaskDef: td, Count: 1})
	want := "0 of 3 nodes can run web:1 (cpu 0, memory 64 MiB): 3 nodes do not allow privileged containers (agent flag --allow-privileged): " +
		"the task asks for privileged in container app"
	if len(plan.Placements) != 0 || !strings.HasSuffix(plan.Failure.String(), want) {
		t.Fatalf("got %v, want a failure ending %q", plan.Failure, want)
	}
	if r := plan.Failure.Reasons[0]; r.Kind != structs.ReasonPrivileged || r.Nodes != 3 {
		t.Errorf("reason %+v", r)
	}
	b.AllowPrivileged = true
	for _, tc := range []struct {
		name string
		edit func(td *structs.TaskDefinition)
	}{
		{"privileged", func(td *structs.TaskDefinition) { td.ContainerDefinitions[0].Privileged = true }},
		{"host network", func(td *structs.TaskDefinition) { td.NetworkMode = structs.NetworkHost }},
		{"host pid", func(td *structs.TaskDefinition) { td.PidMode = structs.NamespaceHost }},
		{"device", func(td *structs.TaskDefinition) {
			td.ContainerDefinitions[0].LinuxParameters = &structs.LinuxParameters{Devices: []structs.Device{{HostPath: "/dev/fuse"}}}
		}},
		{"added capability", func(td *structs.TaskDefinition) {
			td.ContainerDefinitions[0].LinuxParameters = &structs.LinuxParameters{Capabilities: &structs.KernelCapabilities{Add: []string{"SYS_PTRACE"}}}
		}},
	} {
		td := def(0, 64)
		tc.edit(td)
		if got := nodesOf(Place(v, Job{Service: "p", TaskDef: td, Count: 2})); fmt.Sprint(got) != "[b b]" {
			t.Errorf("%s: placed on %v, want b, the one node allowing it", tc.name, got)
		}
	}
	// Dropping capabilities, or adding back one of Docker's defaults, asks
	// for nothing: such a task goes anywhere.
	td = def(0, 64)
	td.ContainerDefinitions[0].LinuxParameters = &structs.LinuxParameters{Capabilities: &structs.KernelCapabilities{Add: []string{"NET_BIND_SERVICE"}, Drop: []string{"ALL"}}}
	if plan := Place(v, Job{Service: "p", TaskDef: td, Count: 3, Strategy: []structs.PlacementStrategy{{Type: "spread"}}}); len(plan.Placements) != 3 || plan.Failure != nil {
		t.Errorf("ordinary task: %v", plan.Failure)
	}
}

// In host network mode a container's port is the host's, so it is taken
// like a static host port, whether the mapping gives hostPort or not.
func TestHostNetworkPorts(t *testing.T) {
	a := node("a", 4096, 4096)
	a.AllowPrivileged = true
	v := newView(a)
	td := def(0, 64, 0)
	td.NetworkMode = structs.NetworkHost
	job := Job{Service: "h", TaskDef: td, Count: 1}
	plan := Place(v, job)
	if len(plan.Placements) != 1 || fmt.Sprint(plan.Placements[0].HostPorts) != "[80]" {
		t.Fatalf("placed %+v (%v), want host port 80", plan.Placements, plan.Failure)
	}
	v.apply(job, plan)
	plan = Place(v, job)
	if len(plan.Placements) != 0 || !strings.HasSuffix(plan.Failure.String(), "1 node: host port 80 in use") {
		t.Fatalf("second task: %+v %v", plan.Placements, plan.Failure)
	}
	// A bridge task asking for host port 80 meets the same refusal.
	plan = Place(v, Job{Service: "b", TaskDef: def(0, 64, 80), Count: 1})
	if len(plan.Placements) != 0 || plan.Failure.Reasons[0].Kind != structs.ReasonHostPort {
		t.Fatalf("bridge task on port 80: %+v %v", plan.Placements, plan.Failure)
	}
}

// The scheduler counts a task's budget when it is more than its
// containers ask for.
func TestTaskBudgetPlacement(t *testing.T) {
	v := newView(node("a", 2048, 1024))
	td := def(0, 64)
	td.TaskMemory = "1GB"
	job := Job{Service: "m", TaskDef: td, Count: 2}
	plan := Place(v, job)
	if len(plan.Placements) != 1 || !strings.Contains(plan.Failure.String(), "1 node lack memory (need 1024 MiB, most free 0 MiB)") {
		t.Fatalf("placed %d: %v", len(plan.Placements), plan.Failure)
	}
}
