package runtime

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/skiff-run/skiff/structs"
)

func TestContainerConfig(t *testing.T) {
	no := false
	def := &structs.TaskDefinition{Family: "web", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "proxy", Image: "p", PortMappings: []structs.PortMapping{{ContainerPort: 80}}},
		{Name: "app", Image: "img:1", CPU: 1, Memory: 64, Essential: &no, Command: []string{"serve"}, EntryPoint: []string{"/app"},
			Environment: []structs.KeyValue{{Name: "A", Value: "1"}}, WorkingDirectory: "/w", User: "nobody", StopTimeout: 7,
			DockerLabels: map[string]string{"team": "x", LabelNode: "forged"},
			PortMappings: []structs.PortMapping{{ContainerPort: 8080}, {ContainerPort: 53, HostPort: 5353, Protocol: "udp"}},
			HealthCheck:  &structs.HealthCheck{Command: []string{"CMD", "/app", "health"}, Interval: 2, Timeout: 1, Retries: 3, StartPeriod: 4}},
	}}
	task := &structs.Task{ID: "t1", HostPorts: []int{20000, 20001, 5353}}
	spec := TaskSpec{Task: task, Def: def, Node: "n1"}
	base := map[string]string{LabelNode: "n1", LabelTask: "t1"}
	cd := &def.ContainerDefinitions[1]
	cfg, hc, nc, err := containerConfig(spec, cd, base, NetworkName("t1"), portsFor(def, "app", task.HostPorts))
	if err != nil {
		t.Fatal(err)
	}
	// skiff's own labels win over a definition's, so that a task cannot
	// pass its containers off as another node's.
	if cfg.Labels[LabelNode] != "n1" || cfg.Labels[LabelContainer] != "app" || cfg.Labels["team"] != "x" {
		t.Errorf("labels %v", cfg.Labels)
	}
	if cfg.Image != "img:1" || cfg.Cmd[0] != "serve" || cfg.Entrypoint[0] != "/app" || cfg.WorkingDir != "/w" || cfg.User != "nobody" {
		t.Errorf("config %+v", cfg)
	}
	if len(cfg.Env) != 1 || cfg.Env[0] != "A=1" || *cfg.StopTimeout != 7 {
		t.Errorf("env %v, stop timeout %v", cfg.Env, cfg.StopTimeout)
	}
	if h := cfg.Healthcheck; h == nil || h.Interval != 2*time.Second || h.Timeout != time.Second || h.Retries != 3 || h.StartPeriod != 4*time.Second {
		t.Errorf("health check %+v", cfg.Healthcheck)
	}
	if hc.Memory != 64<<20 || hc.CPUShares != 2 {
		t.Errorf("resources: memory %d, cpu shares %d (Docker refuses 1)", hc.Memory, hc.CPUShares)
	}
	if b := hc.PortBindings["8080/tcp"]; len(b) != 1 || b[0].HostPort != "20001" {
		t.Errorf("8080/tcp bound to %v", b)
	}
	if b := hc.PortBindings["53/udp"]; len(b) != 1 || b[0].HostPort != "5353" {
		t.Errorf("53/udp bound to %v", b)
	}
	if ep := nc.EndpointsConfig[NetworkName("t1")]; ep == nil || ep.Aliases[0] != "app" || string(hc.NetworkMode) != "skiff-t1" {
		t.Errorf("network %+v %q", nc.EndpointsConfig, hc.NetworkMode)
	}
	// A single-container task stays on the default bridge, which takes no
	// aliases.
	_, hc, nc, err = containerConfig(spec, cd, base, "bridge", nil)
	if err != nil || string(hc.NetworkMode) != "bridge" || nc.EndpointsConfig != nil || len(hc.PortBindings) != 0 {
		t.Errorf("bridge: %v %q %v %v", err, hc.NetworkMode, nc.EndpointsConfig, hc.PortBindings)
	}
}

// Every container is bounded: its memory limit and reservation (the
// default reservation when it gives neither), a process cap, and logs that
// rotate unless its logConfiguration says otherwise.
func TestContainerBounds(t *testing.T) {
	for _, tc := range []struct {
		name                string
		cd                  structs.ContainerDefinition
		memory, reservation int64
		pids                int64
		logType             string
		logOptions          map[string]string
	}{
		{"defaults", structs.ContainerDefinition{}, 0, structs.DefaultMemoryReservationMiB << 20, structs.DefaultPidsLimit,
			"json-file", map[string]string{"max-size": "10m", "max-file": "3"}},
		{"hard limit only", structs.ContainerDefinition{Memory: 64}, 64 << 20, 0, structs.DefaultPidsLimit,
			"json-file", map[string]string{"max-size": "10m", "max-file": "3"}},
		{"both limits and a pids limit", structs.ContainerDefinition{Memory: 512, MemoryReservation: 100, PidsLimit: 50}, 512 << 20, 100 << 20, 50,
			"json-file", map[string]string{"max-size": "10m", "max-file": "3"}},
		{"soft limit only", structs.ContainerDefinition{MemoryReservation: 32}, 0, 32 << 20, structs.DefaultPidsLimit,
			"json-file", map[string]string{"max-size": "10m", "max-file": "3"}},
		{"json-file keeps what it sets", structs.ContainerDefinition{LogConfiguration: &structs.LogConfiguration{LogDriver: "json-file",
			Options: map[string]string{"max-size": "1m", "labels": "x"}}}, 0, structs.DefaultMemoryReservationMiB << 20, structs.DefaultPidsLimit,
			"json-file", map[string]string{"max-size": "1m", "max-file": "3", "labels": "x"}},
		{"another driver as given", structs.ContainerDefinition{LogConfiguration: &structs.LogConfiguration{LogDriver: "journald",
			Options: map[string]string{"tag": "web"}}}, 0, structs.DefaultMemoryReservationMiB << 20, structs.DefaultPidsLimit,
			"journald", map[string]string{"tag": "web"}},
		{"awslogs is replaced", structs.ContainerDefinition{LogConfiguration: &structs.LogConfiguration{LogDriver: "awslogs",
			Options: map[string]string{"awslogs-group": "/ecs/web"}}}, 0, structs.DefaultMemoryReservationMiB << 20, structs.DefaultPidsLimit,
			"json-file", map[string]string{"max-size": "10m", "max-file": "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cd := tc.cd
			cd.Name, cd.Image = "app", "img"
			def := &structs.TaskDefinition{Family: "f", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{cd}}
			_, hc, _, err := containerConfig(TaskSpec{Task: &structs.Task{ID: "t1"}, Def: def, Node: "n1"}, &def.ContainerDefinitions[0], nil, "bridge", nil)
			if err != nil {
				t.Fatal(err)
			}
			if hc.Memory != tc.memory || hc.MemoryReservation != tc.reservation {
				t.Errorf("memory %d, reservation %d; want %d, %d", hc.Memory, hc.MemoryReservation, tc.memory, tc.reservation)
			}
			if hc.PidsLimit == nil || *hc.PidsLimit != tc.pids {
				t.Errorf("pids limit %v, want %d", hc.PidsLimit, tc.pids)
			}
			if hc.LogConfig.Type != tc.logType || !maps.Equal(hc.LogConfig.Config, tc.logOptions) {
				t.Errorf("log config %+v, want %s %v", hc.LogConfig, tc.logType, tc.logOptions)
			}
		})
	}
}

func TestPortsFor(t *testing.T) {
	def := &structs.TaskDefinition{ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "a", PortMappings: []structs.PortMapping{{ContainerPort: 1}, {ContainerPort: 2}}},
		{Name: "b"},
		{Name: "c", PortMappings: []structs.PortMapping{{ContainerPort: 3}}},
	}}
	ports := []int{10, 11, 12}
	if got := portsFor(def, "a", ports); len(got) != 2 || got[1] != 11 {
		t.Errorf("a: %v", got)
	}
	if got := portsFor(def, "b", ports); len(got) != 0 {
		t.Errorf("b: %v", got)
	}
	if got := portsFor(def, "c", ports); len(got) != 1 || got[0] != 12 {
		t.Errorf("c: %v", got)
	}
	if got := portsFor(def, "c", ports[:2]); got != nil {
		t.Errorf("short list: %v", got)
	}
	if got := portsFor(def, "nope", ports); got != nil {
		t.Errorf("unknown container: %v", got)
	}
}

func TestConditionMet(t *testing.T) {
	healthy := &container.Health{Status: "healthy"}
	for _, tc := range []struct {
		cond   string
		st     *container.State
		met    bool
		failed string
	}{
		{"HEALTHY", nil, false, ""},
		{"HEALTHY", &container.State{Status: "running"}, false, "has no health check"},
		{"HEALTHY", &container.State{Status: "running", Health: &container.Health{Status: "starting"}}, false, ""},
		{"HEALTHY", &container.State{Status: "running", Health: healthy}, true, ""},
		{"HEALTHY", &container.State{Status: "exited", Health: healthy}, false, "exited before it was healthy"},
		{"COMPLETE", &container.State{Status: "exited", ExitCode: 3}, true, ""},
		{"COMPLETE", &container.State{Status: "running"}, false, ""},
		{"SUCCESS", &container.State{Status: "exited"}, true, ""},
		{"SUCCESS", &container.State{Status: "exited", ExitCode: 2}, false, "exited with code 2"},
		{"SUCCESS", &container.State{Status: "running"}, false, ""},
		{"LATER", &container.State{Status: "running"}, false, "has unknown condition LATER"},
	} {
		met, failed := conditionMet(tc.cond, tc.st)
		if met != tc.met || failed != tc.failed {
			t.Errorf("%s %+v: %v %q, want %v %q", tc.cond, tc.st, met, failed, tc.met, tc.failed)
		}
	}
}

func TestHealthOf(t *testing.T) {
	for status, want := range map[string]string{
		"Up 3 seconds (healthy)":         "healthy",
		"Up 3 seconds (unhealthy)":       "unhealthy",
		"Up 1 second (health: starting)": "starting",
		"Up 3 seconds":                   "",
	} {
		if got := healthOf(status); got != want {
			t.Errorf("%q: %q, want %q", status, got, want)
		}
	}
	if got := shortID(strings.Repeat("a", 64)); len(got) != 12 {
		t.Errorf("short id %q", got)
	}
}

// A task's GPUs go to its containers in the order of the definition, each
// as a request for those devices by number; a container that asks for none
// gets no request.
func TestGPURequests(t *testing.T) {
	gpu := func(n string) []structs.ResourceRequirement {
		return []structs.ResourceRequirement{{Type: structs.ResourceGPU, Value: n}}
	}
	def := &structs.TaskDefinition{Family: "ml", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "one", Image: "img", ResourceRequirements: gpu("1")},
		{Name: "plain", Image: "img"},
		{Name: "two", Image: "img", ResourceRequirements: gpu("2")},
	}}
	task := &structs.Task{ID: "t1", GPUs: []int{3, 0, 2}}
	want := map[string][]string{"one": {"3"}, "plain": nil, "two": {"0", "2"}}
	for i := range def.ContainerDefinitions {
		cd := &def.ContainerDefinitions[i]
		_, hc, _, err := containerConfig(TaskSpec{Task: task, Def: def, Node: "n1"}, cd, nil, NetworkName("t1"), nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range hc.DeviceRequests {
			if r.Driver != "nvidia" || len(r.Capabilities) != 1 || r.Capabilities[0][0] != "gpu" {
				t.Errorf("%s: request %+v", cd.Name, r)
			}
			got = append(got, r.DeviceIDs...)
		}
		if !slices.Equal(got, want[cd.Name]) {
			t.Errorf("%s: devices %v, want %v", cd.Name, got, want[cd.Name])
		}
	}
}

func TestListedExitCode(t *testing.T) {
	for status, want := range map[string]int{"Exited (143) 2 seconds ago": 143, "Exited (0) About a minute ago": 0} {
		if got, ok := listedExitCode(status); !ok || got != want {
			t.Errorf("%q: %d %v, want %d", status, got, ok, want)
		}
	}
	for _, status := range []string{"Up 3 seconds", "Created", "Exited (x) now", "Exited (3"} {
		if _, ok := listedExitCode(status); ok {
			t.Errorf("%q: an exit code read", status)
		}
	}
}
