package runtime

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/skiff-run/skiff/structs"
)

// A container's startTimeout, not the runtime's default, bounds its wait
// for a dependsOn condition.
func TestDockerStartTimeout(t *testing.T) {
	d, node := newDocker(t)
	never := pair(
		structs.ContainerDefinition{Name: "db", Command: []string{"/testapp", "serve"},
			HealthCheck: &structs.HealthCheck{Command: []string{"CMD", "/testapp", "probe", "-url", "http://127.0.0.1:1/"}, Interval: 5, StartPeriod: 60}},
		structs.ContainerDefinition{Name: "web", Command: []string{"/testapp", "serve"},
			DependsOn:        []structs.ContainerDependency{{ContainerName: "db", Condition: "HEALTHY"}},
			ContainerOptions: structs.ContainerOptions{StartTimeout: 2}})
	began := time.Now()
	err := d.Start(context.Background(), TaskSpec{Task: &structs.Task{ID: uuid.NewString(), Node: node}, Def: never, Node: node})
	if err == nil || !strings.Contains(err.Error(), "dependency db not HEALTHY after 2s") {
		t.Fatalf("start: %v", err)
	}
	if waited := time.Since(began); waited > d.DependencyTimeout {
		t.Errorf("waited %s, the runtime's default", waited)
	}
}

// A task of several containers in network mode none or host gets no
// network of its own.
func TestDockerNoTaskNetwork(t *testing.T) {
	d, node := newDocker(t)
	ctx := context.Background()
	def := pair(structs.ContainerDefinition{Name: "a", Command: []string{"/testapp", "serve"}},
		structs.ContainerDefinition{Name: "b", Command: []string{"/testapp", "hostname"}})
	def.NetworkMode = structs.NetworkNone
	id := uuid.NewString()
	if err := d.Start(ctx, TaskSpec{Task: &structs.Task{ID: id, Node: node}, Def: def, Node: node}); err != nil {
		t.Fatal(err)
	}
	if nets := networksOf(t, d, node, id); len(nets) != 0 {
		t.Errorf("networks %v", nets)
	}
	info, err := d.cli.ContainerInspect(ctx, ContainerName(id, "a"))
	if err != nil || string(info.HostConfig.NetworkMode) != "none" {
		t.Fatalf("network mode %v %v", info.HostConfig, err)
	}
}
