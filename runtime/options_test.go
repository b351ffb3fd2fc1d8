package runtime

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/skiff-run/skiff/structs"
)

// configOf builds the engine's configuration of the named container of a
// task of def, as Start would.
func configOf(t *testing.T, def *structs.TaskDefinition, name string, hostPorts ...int) (*container.Config, *container.HostConfig, map[string]bool) {
	t.Helper()
	task := &structs.Task{ID: "t1", HostPorts: hostPorts}
	spec := TaskSpec{Task: task, Def: def, Node: "n1"}
	netName, _ := taskNetwork(spec)
	cfg, hc, nc, err := containerConfig(spec, def.Container(name), map[string]string{}, netName, portsFor(def, name, hostPorts))
	if err != nil {
		t.Fatal(err)
	}
	endpoints := map[string]bool{}
	for n := range nc.EndpointsConfig {
		endpoints[n] = true
	}
	return cfg, hc, endpoints
}

func TestContainerOptions(t *testing.T) {
	swap, swappiness := int64(256), 10
	def := &structs.TaskDefinition{Family: "web", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{{
		Name: "app", Image: "x", Memory: 128, ContainerOptions: structs.ContainerOptions{
			Hostname: "app-1", DNSServers: []string{"10.0.0.2"}, DNSSearchDomains: []string{"example.com"},
			ExtraHosts: []structs.HostEntry{{Hostname: "db", IPAddress: "10.0.0.5"}},
			Ulimits:    []structs.Ulimit{{Name: "nofile", SoftLimit: 1024, HardLimit: 4096}}, ReadonlyRootFilesystem: true,
			DockerSecurityOptions: []string{"no-new-privileges", "apparmor:docker-default", "label:type:svirt_t", "seccomp=unconfined"},
			SystemControls:        []structs.SystemControl{{Namespace: "net.core.somaxconn", Value: "1024"}},
			Interactive:           true, PseudoTerminal: true, Privileged: true,
			LinuxParameters: &structs.LinuxParameters{
				Capabilities:       &structs.KernelCapabilities{Add: []string{"NET_ADMIN", "cap_sys_ptrace"}, Drop: []string{"ALL"}},
				Devices:            []structs.Device{{HostPath: "/dev/null", ContainerPath: "/dev/mynull", Permissions: []string{"read", "write"}}, {HostPath: "/dev/zero"}},
				InitProcessEnabled: true, SharedMemorySize: 64,
				Tmpfs:   []structs.Tmpfs{{ContainerPath: "/run", Size: 16, MountOptions: []string{"noexec", "mode=1777"}}},
				MaxSwap: &swap, Swappiness: &swappiness,
			},
		}}}}
	cfg, hc, _ := configOf(t, def, "app")
	if cfg.Hostname != "app-1" || !cfg.OpenStdin || !cfg.Tty || cfg.NetworkDisabled {
		t.Errorf("config %+v", cfg)
	}
	if fmt.Sprint(hc.DNS, hc.DNSSearch, hc.ExtraHosts) != "[10.0.0.2] [example.com] [db:10.0.0.5]" {
		t.Errorf("resolvers %v %v %v", hc.DNS, hc.DNSSearch, hc.ExtraHosts)
	}
	if len(hc.Ulimits) != 1 || *hc.Ulimits[0] != (container.Ulimit{Name: "nofile", Soft: 1024, Hard: 4096}) {
		t.Errorf("ulimits %v", hc.Ulimits)
	}
	if !hc.ReadonlyRootfs || !hc.Privileged || hc.Sysctls["net.core.somaxconn"] != "1024" {
		t.Errorf("rootfs %v privileged %v sysctls %v", hc.ReadonlyRootfs, hc.Privileged, hc.Sysctls)
	}
	if want := []string{"no-new-privileges", "apparmor=docker-default", "label=type:svirt_t", "seccomp=unconfined"}; !slices.Equal(hc.SecurityOpt, want) {
		t.Errorf("security options %v, want %v", hc.SecurityOpt, want)
	}
	if fmt.Sprint(hc.CapAdd, hc.CapDrop) != "[CAP_NET_ADMIN CAP_SYS_PTRACE] [ALL]" {
		t.Errorf("capabilities %v %v", hc.CapAdd, hc.CapDrop)
	}
	if want := []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rw"},
		{PathOnHost: "/dev/zero", PathInContainer: "/dev/zero", CgroupPermissions: "rwm"}}; !slices.Equal(hc.Devices, want) {
		t.Errorf("devices %v", hc.Devices)
	}
	if hc.Init == nil || !*hc.Init || hc.ShmSize != 64<<20 || hc.Tmpfs["/run"] != "size=16m,noexec,mode=1777" {
		t.Errorf("init %v shm %d tmpfs %v", hc.Init, hc.ShmSize, hc.Tmpfs)
	}
	// maxSwap is the swap above the memory limit; the engine takes the
	// limit of both together.
	if hc.MemorySwap != (128+256)<<20 || hc.MemorySwappiness == nil || *hc.MemorySwappiness != 10 {
		t.Errorf("swap %d swappiness %v", hc.MemorySwap, hc.MemorySwappiness)
	}
	// No swap at all is the memory limit for both.
	swap = 0
	if _, hc, _ := configOf(t, def, "app"); hc.MemorySwap != 128<<20 {
		t.Errorf("maxSwap 0: memory and swap %d", hc.MemorySwap)
	}
	// An ordinary container keeps the engine's defaults.
	plain := &structs.TaskDefinition{Family: "p", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "x"}}}
	if cfg, hc, _ := configOf(t, plain, "app"); cfg.Tty || hc.Privileged || hc.ReadonlyRootfs || hc.CapAdd != nil || hc.Devices != nil ||
		hc.Init != nil || hc.ShmSize != 0 || hc.MemorySwap != 0 || hc.PidMode != "" || hc.IpcMode != "" || hc.NanoCPUs != 0 {
		t.Errorf("plain container %+v %+v", cfg, hc)
	}
}

// Host and none network modes put every container of the task on that
// network, without a task network, aliases or published ports.
func TestNetworkModes(t *testing.T) {
	def := &structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "app", Image: "x", PortMappings: []structs.PortMapping{{ContainerPort: 8080}}}, {Name: "side", Image: "x"}}}
	_, hc, endpoints := configOf(t, def, "app", 20000)
	if string(hc.NetworkMode) != NetworkName("t1") || !endpoints[NetworkName("t1")] || len(hc.PortBindings["8080/tcp"]) != 1 {
		t.Fatalf("bridge: %q %v %v", hc.NetworkMode, endpoints, hc.PortBindings)
	}
	for _, mode := range []string{structs.NetworkHost, structs.NetworkNone} {
		def.NetworkMode = mode
		if _, own := taskNetwork(TaskSpec{Task: &structs.Task{ID: "t1"}, Def: def}); own {
			t.Errorf("%s: a task network", mode)
		}
		_, hc, endpoints := configOf(t, def, "app", 8080)
		if string(hc.NetworkMode) != mode || len(endpoints) != 0 || len(hc.PortBindings) != 0 {
			t.Errorf("%s: %q %v %v", mode, hc.NetworkMode, endpoints, hc.PortBindings)
		}
	}
	def.NetworkMode = ""
	def.ContainerDefinitions[1].DisableNetworking = true
	cfg, hc, endpoints := configOf(t, def, "side")
	if !cfg.NetworkDisabled || string(hc.NetworkMode) != "none" || len(endpoints) != 0 {
		t.Errorf("networking disabled: %v %q %v", cfg.NetworkDisabled, hc.NetworkMode, endpoints)
	}
}

// In mode task the first container to start holds the PID and IPC
// namespaces, which the others join; in mode host they are the host's.
func TestNamespaceModes(t *testing.T) {
	def := &structs.TaskDefinition{Family: "web", TaskOptions: structs.TaskOptions{PidMode: "task", IpcMode: "task"},
		ContainerDefinitions: []structs.ContainerDefinition{
			{Name: "app", Image: "x", DependsOn: []structs.ContainerDependency{{ContainerName: "db", Condition: "START"}}},
			{Name: "db", Image: "x"}}}
	_, db, _ := configOf(t, def, "db")
	_, app, _ := configOf(t, def, "app")
	join := "container:" + ContainerName("t1", "db")
	if db.PidMode != "" || db.IpcMode != "shareable" || string(app.PidMode) != join || string(app.IpcMode) != join {
		t.Errorf("task: db %q %q, app %q %q", db.PidMode, db.IpcMode, app.PidMode, app.IpcMode)
	}
	def.PidMode, def.IpcMode = "host", "none"
	if _, hc, _ := configOf(t, def, "app"); hc.PidMode != "host" || hc.IpcMode != "none" {
		t.Errorf("host: %q %q", hc.PidMode, hc.IpcMode)
	}
}

// A container without a memory limit of its own gets the task's, without
// the default reservation; every container gets at most the task's cpu.
func TestTaskBudgetLimits(t *testing.T) {
	def := &structs.TaskDefinition{Family: "web", TaskCPU: "0.5 vCPU", TaskMemory: "1GB", ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "app", Image: "x"}, {Name: "db", Image: "x", Memory: 256, CPU: 256}, {Name: "cache", Image: "x", MemoryReservation: 64}}}
	for _, tc := range []struct {
		name                string
		memory, reservation int64
	}{{"app", 1024 << 20, 0}, {"db", 256 << 20, 0}, {"cache", 1024 << 20, 64 << 20}} {
		_, hc, _ := configOf(t, def, tc.name)
		if hc.Memory != tc.memory || hc.MemoryReservation != tc.reservation || hc.NanoCPUs != 5e8 {
			t.Errorf("%s: memory %d reservation %d nano cpus %d, want %d %d %d", tc.name, hc.Memory, hc.MemoryReservation, hc.NanoCPUs, tc.memory, tc.reservation, int64(5e8))
		}
	}
}

func TestDependencyTimeout(t *testing.T) {
	if got := dependencyTimeout(&structs.ContainerDefinition{}, time.Minute); got != time.Minute {
		t.Errorf("default: %s", got)
	}
	cd := &structs.ContainerDefinition{ContainerOptions: structs.ContainerOptions{StartTimeout: 5}}
	if got := dependencyTimeout(cd, time.Minute); got != 5*time.Second {
		t.Errorf("startTimeout 5: %s", got)
	}
}
