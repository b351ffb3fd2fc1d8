package structs

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// Task-level sizes decode from ECS's strings and from numbers, and read
// in ECS's units.
func TestTaskSize(t *testing.T) {
	for _, tc := range []struct {
		json      string
		cpu, mem  int64
		cpuErr    bool
		memErr    bool
		formatted TaskSize
	}{
		{`"256"`, 256, 256, false, false, "256"},
		{`512`, 512, 512, false, false, "512"},
		{`"1 vCPU"`, 1024, 0, false, true, "1 vCPU"},
		{`"0.25 vcpu"`, 256, 0, false, true, "0.25 vcpu"},
		{`"2vCPU"`, 2048, 0, false, true, "2vCPU"},
		{`"1GB"`, 0, 1024, true, false, "1GB"},
		{`"0.5 GB"`, 0, 512, true, false, "0.5 GB"},
		{`""`, 0, 0, false, false, ""},
		{`"-1"`, 0, 0, true, true, "-1"},
		{`"1.5"`, 0, 0, true, true, "1.5"},
		{`"1 potato"`, 0, 0, true, true, "1 potato"},
		{`"0.0001 vCPU"`, 0, 0, true, true, "0.0001 vCPU"},
	} {
		var s TaskSize
		if err := json.Unmarshal([]byte(tc.json), &s); err != nil || s != tc.formatted {
			t.Errorf("%s: decoded %q %v", tc.json, s, err)
			continue
		}
		cpu, err := s.CPUUnits()
		if cpu != tc.cpu || (err != nil) != tc.cpuErr {
			t.Errorf("%s: cpu %d %v", tc.json, cpu, err)
		}
		mem, err := s.MiB()
		if mem != tc.mem || (err != nil) != tc.memErr {
			t.Errorf("%s: memory %d %v", tc.json, mem, err)
		}
	}
	var s TaskSize
	if err := json.Unmarshal([]byte(`true`), &s); err == nil {
		t.Error("a bool decoded as a size")
	}
}

// The task's budget is what it takes from its node when it is more than
// its containers ask for; containers without memory of their own share it
// instead of reserving the default each.
func TestTaskBudget(t *testing.T) {
	td := &TaskDefinition{ContainerDefinitions: []ContainerDefinition{{CPU: 100}, {CPU: 50, MemoryReservation: 64}, {}}}
	if td.CPU() != 150 || td.MemoryMiB() != 64+2*DefaultMemoryReservationMiB {
		t.Fatalf("no budget: cpu %d memory %d", td.CPU(), td.MemoryMiB())
	}
	td.TaskCPU, td.TaskMemory = "1 vCPU", "512"
	if td.CPU() != 1024 || td.MemoryMiB() != 512 {
		t.Fatalf("budget: cpu %d memory %d", td.CPU(), td.MemoryMiB())
	}
	td.TaskCPU, td.TaskMemory = "100", "32"
	if td.CPU() != 150 || td.MemoryMiB() != 64 {
		t.Fatalf("budget below the containers': cpu %d memory %d", td.CPU(), td.MemoryMiB())
	}
}

func TestPrivileges(t *testing.T) {
	ordinary := TaskDefinition{ContainerDefinitions: []ContainerDefinition{{Name: "app", ContainerOptions: ContainerOptions{
		DockerSecurityOptions: []string{"no-new-privileges"},
		LinuxParameters: &LinuxParameters{Capabilities: &KernelCapabilities{Add: []string{"NET_BIND_SERVICE", "cap_chown"}, Drop: []string{"ALL"}},
			InitProcessEnabled: true}}}}}
	if p := ordinary.Privileges(); len(p) != 0 {
		t.Fatalf("an ordinary task asks for %v", p)
	}
	td := TaskDefinition{TaskOptions: TaskOptions{NetworkMode: NetworkHost, PidMode: NamespaceHost, IpcMode: NamespaceHost},
		ContainerDefinitions: []ContainerDefinition{{Name: "app", ContainerOptions: ContainerOptions{Privileged: true,
			DockerSecurityOptions: []string{"seccomp=unconfined"},
			LinuxParameters: &LinuxParameters{Capabilities: &KernelCapabilities{Add: []string{"CAP_SYS_ADMIN", "CHOWN"}},
				Devices: []Device{{HostPath: "/dev/fuse"}}}}}}}
	want := []string{"networkMode host", "pidMode host", "ipcMode host", "privileged in container app",
		"dockerSecurityOptions seccomp=unconfined in container app", "device /dev/fuse in container app", "capability SYS_ADMIN in container app"}
	if got := td.Privileges(); !slices.Equal(got, want) {
		t.Fatalf("privileges:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	r := PlacementReason{Kind: ReasonPrivileged, Nodes: 3, Detail: want[3]}
	if s := r.String(); s != "3 nodes do not allow privileged containers (agent flag --allow-privileged): the task asks for privileged in container app" {
		t.Fatal(s)
	}
}
