package runtime

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestDockerStats samples a running task on the engine: its container is
// listed with its task, service and name, memory in use and CPU time that
// grows, and its restart count is read once; a stopped task is left out.
func TestDockerStats(t *testing.T) {
	d, node := newDocker(t)
	ctx := context.Background()
	def := &structs.TaskDefinition{Family: "busy", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "app", Image: "skiff-testapp:latest", Memory: 32, Command: []string{"/testapp", "serve"}}}}
	task := &structs.Task{ID: uuid.NewString(), Service: "busy", TaskDefinition: "busy:1", Node: node}
	if err := d.Start(ctx, TaskSpec{Task: task, Def: def, Node: node}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		stats, err := d.Stats(ctx, node)
		if err != nil {
			return false, err.Error()
		}
		if len(stats) != 1 {
			return false, fmt.Sprintf("stats %+v: want the one container", stats)
		}
		s := stats[0]
		ok := s.TaskID == task.ID && s.Service == "busy" && s.Container == "app" && s.MemoryBytes > 0 && s.CPUSeconds > 0
		return ok, fmt.Sprintf("stats %+v: want the task's container with memory and CPU time used", s)
	})
	// The container has no restart policy, so its count was read once and
	// is kept for the samples after; the next sample after it stopped
	// forgets it.
	d.restartsMu.Lock()
	kept := len(d.restarts)
	d.restartsMu.Unlock()
	if kept != 1 {
		t.Errorf("%d restart counts kept, want the container's", kept)
	}
	if err := d.Stop(ctx, node, task.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	if stats, err := d.Stats(ctx, node); err != nil || len(stats) != 0 {
		t.Errorf("stats after Stop %+v, %v: want none", stats, err)
	}
	d.restartsMu.Lock()
	kept = len(d.restarts)
	d.restartsMu.Unlock()
	if kept != 0 {
		t.Errorf("%d restart counts kept after the container stopped, want none", kept)
	}
}
