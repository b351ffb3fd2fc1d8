package structs

// Event kinds. Each names the object it is about first, then what
// happened to it; the list only grows, so that scripts matching a kind
// keep working.
const (
	EventServiceApplied     = "service.applied"
	EventServiceScaled      = "service.scaled"
	EventServiceRevision    = "service.revision"
	EventServiceRestarted   = "service.restarted"
	EventServiceRemoved     = "service.removed"
	EventServiceUnplaceable = "service.unplaceable"
	EventServicePlaceable   = "service.placeable"
	EventTaskPlaced         = "task.placed"
	EventTaskStarted        = "task.started"
	EventTaskHealthy        = "task.healthy"
	EventTaskUnhealthy      = "task.unhealthy"
	EventTaskStopping       = "task.stopping"
	EventTaskStopped        = "task.stopped"
	EventTaskLost           = "task.lost"
	EventNodeRegistered     = "node.registered"
	EventNodeUp             = "node.up"
	EventNodeDown           = "node.down"
	EventNodeDrained        = "node.drained"
	EventNodeEligible       = "node.eligible"
	EventDeploymentStarted  = "deployment.started"
	EventDeploymentProgress = "deployment.progress"
	EventDeploymentEnded    = "deployment.ended"
	EventLeaderElected      = "leader.elected"
)

// Event is one change the cluster made, as the state machine recorded it.
// Every replica records the same events from the same log entries, so any
// agent serves the same stream. Index is the log index of the entry that
// made the change: all events of one entry share it, and a reader that
// has seen index N has seen every event up to it. Time is the clock of the
// agent that wrote the entry (Unix milliseconds), never a replica's own.
type Event struct {
	Index      uint64 `json:"index"`
	Time       int64  `json:"time"`
	Kind       string `json:"kind"`
	Service    string `json:"service,omitempty"`
	Task       string `json:"task,omitempty"`
	Node       string `json:"node,omitempty"`
	Deployment string `json:"deployment,omitempty"`
	Message    string `json:"message"`
	// Tags are those of what the event concerns when it was recorded: a
	// task's (its definition's and its service's), else its service's,
	// else its node's.
	Tags []Tag `json:"tags,omitempty"`
}

// EventTopics are the kinds of object an event can be filtered by, as
// they are named in a topic ("service:web").
var EventTopics = []string{"service", "task", "node", "deployment", "kind"}

// Concerns returns the event's value for a topic name, "" when it has
// none.
func (e *Event) Concerns(topic string) string {
	switch topic {
	case "service":
		return e.Service
	case "task":
		return e.Task
	case "node":
		return e.Node
	case "deployment":
		return e.Deployment
	case "kind":
		return e.Kind
	}
	return ""
}
