// Package runtime runs the containers of skiff tasks on one node. Runtime is
// the boundary: Docker implements it for real hosts and Fake for tests. It
// imports only skiff's fsm types.
package runtime

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/skiff-run/skiff/fsm"
)

// Labels every skiff container carries, so that an agent can rebuild its
// picture of the engine after a crash and never start a duplicate.
const (
	LabelNode      = "skiff.node"
	LabelTask      = "skiff.task"
	LabelService   = "skiff.service"
	LabelContainer = "skiff.container"
)

// Container states as the runtime reports them.
const (
	StateCreated = "created"
	StateRunning = "running"
	StateExited  = "exited"
)

// TaskSpec is everything needed to start one task.
type TaskSpec struct {
	Task *fsm.Task
	Def  *fsm.TaskDefinition
	Node string
}

// Observed is what the engine holds for one task on this node.
type Observed struct {
	TaskID     string
	Service    string
	Containers []fsm.ContainerState
}

// Runtime drives one container engine. Implementations are safe for
// concurrent use; Start and Stop of the same task are never called at once
// by the agent.
type Runtime interface {
	// Start creates the task's network and containers and starts them in
	// dependsOn order, returning when all are started or one failed. The
	// caller removes anything left of an earlier, interrupted start first.
	Start(ctx context.Context, spec TaskSpec) error
	// Stop stops the task's running containers; they are kept, with their
	// logs, until Remove.
	Stop(ctx context.Context, node, taskID string, timeout time.Duration) error
	// Remove deletes the task's containers and network.
	Remove(ctx context.Context, node, taskID string) error
	// List returns every task that has containers labelled with node.
	List(ctx context.Context, node string) ([]Observed, error)
	// Logs copies a container's output to w; with follow it streams until
	// ctx ends or the container stops.
	Logs(ctx context.Context, node, taskID, container string, follow bool, w io.Writer) error
}

// Notifier is implemented by runtimes that can say when a container changed
// state, so that the agent reacts at once instead of at its next poll.
type Notifier interface {
	Changes(ctx context.Context, node string) <-chan struct{}
}

// TaskStatus derives a task's status from its containers: STOPPED with a
// reason once an essential container exited or became unhealthy, RUNNING
// once every essential container runs, else PENDING.
func TaskStatus(def *fsm.TaskDefinition, cs []fsm.ContainerState) (status, reason string) {
	byName := make(map[string]*fsm.ContainerState, len(cs))
	for i := range cs {
		byName[cs[i].Name] = &cs[i]
	}
	running := true
	for i := range def.ContainerDefinitions {
		cd := &def.ContainerDefinitions[i]
		c := byName[cd.Name]
		if !cd.IsEssential() {
			continue
		}
		switch {
		case c == nil:
			running = false
		case c.Status == StateExited:
			code := -1
			if c.ExitCode != nil {
				code = *c.ExitCode
			}
			return fsm.StatusStopped, fmt.Sprintf("essential container %s exited with code %d", cd.Name, code)
		case c.Health == "unhealthy":
			return fsm.StatusStopped, fmt.Sprintf("essential container %s is unhealthy", cd.Name)
		case c.Status != StateRunning:
			running = false
		}
	}
	if running {
		return fsm.StatusRunning, ""
	}
	return fsm.StatusPending, ""
}

// ContainerName is the engine-wide name of a task's container. Engines
// refuse a second container of the same name, which backs up the agent's
// promise never to start a task twice.
func ContainerName(taskID, container string) string { return "skiff-" + taskID + "-" + container }

// NetworkName is the name of the private bridge network of a task with
// several containers.
func NetworkName(taskID string) string { return "skiff-" + taskID }

// StartOrder sorts containers so that each comes after those it depends on
// or links to. The definition is validated to be acyclic before it is
// accepted, so a cycle here is reported, not resolved.
func StartOrder(def *fsm.TaskDefinition) ([]*fsm.ContainerDefinition, error) {
	index := map[string]*fsm.ContainerDefinition{}
	for i := range def.ContainerDefinitions {
		index[def.ContainerDefinitions[i].Name] = &def.ContainerDefinitions[i]
	}
	var out []*fsm.ContainerDefinition
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(cd *fsm.ContainerDefinition) error
	visit = func(cd *fsm.ContainerDefinition) error {
		switch state[cd.Name] {
		case 1:
			return fmt.Errorf("containers depend on each other in a cycle through %s", cd.Name)
		case 2:
			return nil
		}
		state[cd.Name] = 1
		for _, d := range Dependencies(cd) {
			if dep := index[d]; dep != nil {
				if err := visit(dep); err != nil {
					return err
				}
			}
		}
		state[cd.Name] = 2
		out = append(out, cd)
		return nil
	}
	for i := range def.ContainerDefinitions {
		if err := visit(&def.ContainerDefinitions[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Dependencies lists the containers cd must start after: its dependsOn
// entries and the targets of its links ("name" or "name:alias").
func Dependencies(cd *fsm.ContainerDefinition) []string {
	var out []string
	for _, d := range cd.DependsOn {
		out = append(out, d.ContainerName)
	}
	for _, l := range cd.Links {
		name, _, _ := strings.Cut(l, ":")
		out = append(out, name)
	}
	return out
}
