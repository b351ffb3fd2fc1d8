package runtime

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/skiff-run/skiff/internal/dockertest"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

var testapp = &dockertest.Image{Tag: "skiff-testapp:latest", Pkg: "../test/testapp", Bin: "testapp", Tail: `CMD ["/testapp", "serve"]`}

// newDocker returns the Docker runtime on the local engine and a node id
// of the test's own, whose containers are removed when the test ends.
func newDocker(t *testing.T) (*Docker, string) {
	dockertest.Client(t)
	testapp.Build(t)
	d, err := NewDocker()
	if err != nil {
		t.Fatal(err)
	}
	d.PullTimeout, d.DependencyTimeout = 10*time.Second, 30*time.Second
	node := "runtime-test-" + uuid.NewString()[:8]
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if obs, err := d.List(ctx, node); err == nil {
			for _, o := range obs {
				_ = d.Remove(ctx, node, o.TaskID)
			}
		}
		d.Close()
	})
	return d, node
}

func observed(t *testing.T, d *Docker, node, taskID string) []structs.ContainerState {
	t.Helper()
	obs, err := d.List(context.Background(), node)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range obs {
		if o.TaskID == taskID {
			return o.Containers
		}
	}
	return nil
}

// TestDockerTaskLifecycle runs a two-container task on the engine: the
// second container waits until the first is healthy and reaches it by
// name on the task's network; List, Logs, Stop and Remove see and handle
// both, and Changes announces what happens.
func TestDockerTaskLifecycle(t *testing.T) {
	d, node := newDocker(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := d.Changes(ctx, node)
	def := &structs.TaskDefinition{Family: "pair", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "db", Image: "skiff-testapp:latest", Memory: 32, Command: []string{"/testapp", "serve"},
			HealthCheck: &structs.HealthCheck{Command: []string{"CMD", "/testapp", "probe"}, Interval: 1, Timeout: 1, Retries: 3}},
		{Name: "web", Image: "skiff-testapp:latest", Memory: 32, Command: []string{"/testapp", "serve", "-upstream", "http://db:8080/health"},
			DependsOn: []structs.ContainerDependency{{ContainerName: "db", Condition: "HEALTHY"}}},
	}}
	task := &structs.Task{ID: uuid.NewString(), Service: "pair", TaskDefinition: "pair:1", Node: node}
	if err := d.Start(ctx, TaskSpec{Task: task, Def: def, Node: node}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
	case <-time.After(10 * time.Second):
		t.Fatal("no change announced after a start")
	}
	cs := observed(t, d, node, task.ID)
	if status, reason := TaskStatus(def, cs); status != structs.StatusRunning {
		t.Fatalf("task %s (%s): %+v", status, reason, cs)
	}
	var out strings.Builder
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		out.Reset()
		err := d.Logs(ctx, node, task.ID, "web", false, &out)
		return err == nil && strings.Contains(out.String(), "upstream ready: http://db:8080/health"), out.String()
	})
	if err := d.Stop(ctx, node, task.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	for _, c := range observed(t, d, node, task.ID) {
		if c.Status == StateRunning {
			t.Fatalf("container %s still runs after Stop", c.Name)
		}
	}
	if err := d.Remove(ctx, node, task.ID); err != nil {
		t.Fatal(err)
	}
	if cs := observed(t, d, node, task.ID); cs != nil {
		t.Fatalf("containers left after Remove: %+v", cs)
	}
}

// TestDockerFailures: an image the engine does not have and cannot pull,
// and a dependency that exits before it is healthy, each fail the start
// with a reason a person can act on.
func TestDockerFailures(t *testing.T) {
	d, node := newDocker(t)
	ctx := context.Background()
	missing := &structs.TaskDefinition{Family: "m", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "skiff-no-such-image:1"}}}
	err := d.Start(ctx, TaskSpec{Task: &structs.Task{ID: uuid.NewString(), Node: node}, Def: missing, Node: node})
	if err == nil || !strings.Contains(err.Error(), "not found locally and pull failed") {
		t.Fatalf("missing image: %v", err)
	}
	early := &structs.TaskDefinition{Family: "e", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "db", Image: "skiff-testapp:latest", Command: []string{"/testapp", "serve", "-exit-after", "100ms", "-exit-code", "3"},
			HealthCheck: &structs.HealthCheck{Command: []string{"CMD", "/testapp", "probe"}, Interval: 5, Retries: 3}},
		{Name: "web", Image: "skiff-testapp:latest", DependsOn: []structs.ContainerDependency{{ContainerName: "db", Condition: "HEALTHY"}}},
	}}
	err = d.Start(ctx, TaskSpec{Task: &structs.Task{ID: uuid.NewString(), Node: node}, Def: early, Node: node})
	if err == nil || !strings.Contains(err.Error(), "dependency db exited before it was healthy") {
		t.Fatalf("dependency that exits: %v", err)
	}
}
