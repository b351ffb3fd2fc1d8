// Package runtime runs the containers of skiff tasks on one node. Runtime is
// the boundary: Docker implements it for real hosts and Fake for tests. It
// imports only skiff's fsm types.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// Labels every skiff container carries, so that an agent can rebuild its
// picture of the engine after a crash and never start a duplicate.
const (
	LabelNode      = "skiff.node"
	LabelTask      = "skiff.task"
	LabelService   = "skiff.service"
	LabelContainer = "skiff.container"
)

// errNoTaskID refuses an operation on a task without an id, which would
// otherwise select every skiff container of the node.
var errNoTaskID = errors.New("no task id given: refusing to act on every skiff container of the node")

// Container states as the runtime reports them.
const (
	StateCreated = "created"
	StateRunning = "running"
	StateExited  = "exited"
)

// TaskSpec is everything needed to start one task.
type TaskSpec struct {
	Task *structs.Task
	Def  *structs.TaskDefinition
	Node string
	// Secrets are, by container name, the environment variables the
	// container's secrets opened to; RegistryAuth is, by container name,
	// the login its image is pulled with. Both live only in memory, for
	// the start, and are never logged.
	Secrets      map[string][]structs.KeyValue
	RegistryAuth map[string]*RegistryAuth
	// DNSServers are the resolvers a container gets when its definition
	// names none (the agent's DNS server); a container on the host's
	// network, or with none, keeps the host's.
	DNSServers []string
}

// Observed is what the engine holds for one task on this node.
type Observed struct {
	TaskID     string
	Service    string
	Containers []structs.ContainerState
}

// Runtime drives one container engine. Implementations are safe for
// concurrent use; Start and Stop of the same task are never called at once
// by the agent. Start, Stop and Remove refuse an empty task id, which would
// otherwise select every task of the node.
type Runtime interface {
	// Start creates the task's network and containers and starts them in
	// dependsOn order, returning when all are started or one failed. It may
	// be repeated: what an earlier start of the task left is reused or
	// replaced, though the caller removes anything left of an interrupted
	// start first. A failed start leaves no network that no running
	// container of the task uses.
	Start(ctx context.Context, spec TaskSpec) error
	// Stop stops the task's running containers; they are kept, with their
	// logs, until Remove. The task's network may go as soon as none runs.
	Stop(ctx context.Context, node, taskID string, timeout time.Duration) error
	// Remove deletes the task's containers and network.
	Remove(ctx context.Context, node, taskID string) error
	// List returns every task that has containers labelled with node and
	// with a task id; a container without one is none of skiff's tasks.
	// It may remove task networks no running container uses.
	List(ctx context.Context, node string) ([]Observed, error)
	// Logs copies a container's output, as opts choose it, to w; with
	// opts.Follow it streams until ctx ends or the container stops.
	Logs(ctx context.Context, node, taskID, container string, opts structs.LogOptions, w io.Writer) error
	// Exec runs a command in a running container of a task on node, with
	// the streams of spec, and returns the command's exit code once it
	// has ended and its output is copied. An error means the command
	// could not be run or its streams broke; ending ctx abandons it.
	Exec(ctx context.Context, node, taskID, container string, spec ExecSpec) (int, error)
}

// Notifier is implemented by runtimes that can say when a container changed
// state, so that the agent reacts at once instead of at its next poll.
type Notifier interface {
	Changes(ctx context.Context, node string) <-chan struct{}
}

// Gateway is implemented by runtimes whose containers reach the host on
// an address of its own (a bridge's gateway), so that the agent can serve
// them there.
type Gateway interface {
	Gateway(ctx context.Context) (string, error)
}

// TaskStatus derives a task's status from its containers: STOPPED with a
// reason once an essential container exited or became unhealthy, RUNNING
// once every essential container runs, else PENDING.
func TaskStatus(def *structs.TaskDefinition, cs []structs.ContainerState) (status, reason string) {
	byName := make(map[string]*structs.ContainerState, len(cs))
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
			return structs.StatusStopped, fmt.Sprintf("essential container %s exited with code %d", cd.Name, code)
		case c.Health == "unhealthy":
			return structs.StatusStopped, fmt.Sprintf("essential container %s is unhealthy", cd.Name)
		case c.Status != StateRunning:
			running = false
		}
	}
	if running {
		return structs.StatusRunning, ""
	}
	return structs.StatusPending, ""
}

// ContainerName is the engine-wide name of a task's container. Engines
// refuse a second container of the same name, which backs up the agent's
// promise never to start a task twice.
func ContainerName(taskID, container string) string { return "skiff-" + taskID + "-" + container }

// NetworkName is the name of the private bridge network of a task with
// several containers.
func NetworkName(taskID string) string { return "skiff-" + taskID }
