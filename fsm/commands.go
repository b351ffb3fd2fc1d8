package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/skiff-run/skiff/structs"
)

// CommandType is the first byte of every Raft log entry skiff writes. The
// list is append-only: a value once shipped keeps its meaning forever, so an
// old log replays the same way on a newer binary.
type CommandType byte

const (
	CmdRegisterNode CommandType = iota + 1
	CmdApplyService
	CmdDeleteService
	CmdCommitPlan
	CmdUpdateTaskStatus
	CmdDeleteTasks
	CmdRegisterTaskDefinition
	CmdSetNodeStatus
	CmdScaleService
	CmdUpsertACLToken
	CmdDeleteACLToken
	CmdRotateSecret
	CmdSetSecret
	CmdDeleteSecret
	CmdResealSecrets
	// CmdApplyDaemonService is an ApplyService whose service is a daemon.
	// It has a type of its own so that a leader writes a daemon only once
	// every server knows what one is: an older replica would read it as a
	// replica service of no tasks and stop the daemon's tasks if it led.
	CmdApplyDaemonService
	// The schedules' commands, in schedule.go.
	CmdApplySchedule
	CmdDeleteSchedule
	CmdRecordScheduleRun
	// The deployments' commands, in deployment.go.
	CmdUpdateDeployment
	CmdSetServiceRevision
	// CmdMoveTask starts a rebalance move, in rebalance.go.
	CmdMoveTask
	// CmdRecordEvent, in events.go, is written with IgnoreUnknownFlag.
	CmdRecordEvent
	// CmdPlaceTasks places tasks on named nodes, checked inside Apply; in
	// place.go.
	CmdPlaceTasks
	// CmdApplyBalancedService is an ApplyService whose service has
	// loadBalancers, in loadbalancer.go. An older replica would drop the
	// field, and take a listener that a newer one refuses as taken.
	CmdApplyBalancedService
	// CmdApplySourcedService is an ApplyService (of a replica service, a
	// daemon or a service with load balancers) whose service records the directory it was applied from.
	// It has a type of its own so that a leader writes the source only
	// once every server keeps it: an older replica would drop the field,
	// and a prune answered from that replica, or after it led, would miss
	// the service.
	CmdApplySourcedService
)

// Baseline is the newest command type that every release of skiff
// applies; a leader writes a newer type only once every server says it
// knows it.
const Baseline = CmdSetNodeStatus

// Newest is the newest command type this binary applies.
func Newest() CommandType {
	var n CommandType
	for t := range handlers {
		n = max(n, t)
	}
	return n
}

// IgnoreUnknownFlag, set in a command's type byte, lets a replica that does
// not know the type skip the entry instead of stopping. Only commands whose
// loss cannot make replicas disagree about anything they both understand
// may carry it (for example, advisory records a newer leader keeps).
const IgnoreUnknownFlag CommandType = 0x80

func (c CommandType) String() string {
	if h, ok := handlers[c&^IgnoreUnknownFlag]; ok {
		return h.name
	}
	return "CommandType(" + strconv.Itoa(int(c)) + ")"
}

// RegisterNode adds a node or refreshes its address, resources and
// attributes. Status and eligibility of a known node are kept.
type RegisterNode struct {
	Node structs.Node `json:"node"`
	At   int64        `json:"at"`
}

// ApplyService creates or updates a service. When TaskDefinition is set and
// differs from the family's newest revision, a new revision is registered in
// the same entry, so a service never points at a definition that does not
// exist.
type ApplyService struct {
	Service        structs.Service         `json:"service"`
	TaskDefinition *structs.TaskDefinition `json:"taskDefinition,omitempty"`
	At             int64                   `json:"at"`
}

// DeleteService removes a service and asks all its tasks to stop.
type DeleteService struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
	At     int64  `json:"at"`
}

// CommitPlan commits one scheduling decision in one entry: new placements
// and tasks to stop. A placement whose id already exists is skipped, so the
// leader never overwrites what a node has reported about a task.
type CommitPlan struct {
	Place []structs.Task `json:"place,omitempty"`
	Stop  []TaskStop     `json:"stop,omitempty"`
	// Outcomes record, per service, the scheduler's verdict: why tasks
	// could not be placed, or nil to clear an earlier failure.
	Outcomes []PlacementOutcome `json:"outcomes,omitempty"`
	At       int64              `json:"at"`
}

// PlacementOutcome is the scheduler's verdict on one service.
type PlacementOutcome struct {
	Service string                    `json:"service"`
	Failure *structs.PlacementFailure `json:"failure,omitempty"`
}

// TaskStop asks for one task to stop, and says why.
type TaskStop struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// TaskStatusUpdate is one node's report of one task.
type TaskStatusUpdate struct {
	ID         string                   `json:"id"`
	Node       string                   `json:"node"`
	LastStatus string                   `json:"lastStatus"`
	Containers []structs.ContainerState `json:"containers,omitempty"`
	StopReason string                   `json:"stoppedReason,omitempty"`
	At         int64                    `json:"at"`
}

// UpdateTaskStatus carries a batch of node reports.
type UpdateTaskStatus struct {
	Updates []TaskStatusUpdate `json:"updates"`
}

func (c *UpdateTaskStatus) validate() error {
	if len(c.Updates) > MaxTasksPerEntry {
		return fmt.Errorf("updates: %d in one entry, at most %d", len(c.Updates), MaxTasksPerEntry)
	}
	for i, u := range c.Updates {
		if u.ID == "" || u.Node == "" {
			return fmt.Errorf("updates[%d]: task id and node are required", i)
		}
		if err := checkReportable(u.LastStatus); err != nil {
			return fmt.Errorf("updates[%d].lastStatus: task %s: %w", i, u.ID, err)
		}
	}
	return c.checkTransitions(nil)
}

func (c *UpdateTaskStatus) validateAgainst(st *State) error { return c.checkTransitions(st) }

// checkTransitions refuses a batch holding a report that reportTransitions
// forbids. Apply takes a batch's reports in order, so a report moves its
// task from what the reports before it in the batch made of it, or else
// from its status in st. Without a state (st nil), or for a task st does
// not hold for that node, a task's first report in the batch is taken as
// applied and only the ones after it are checked.
func (c *UpdateTaskStatus) checkTransitions(st *State) error {
	status := map[string]string{} // by task id, what the batch made of it so far
	for i, u := range c.Updates {
		from, known := status[u.ID]
		if !known && st != nil {
			if t := st.Task(u.ID); t != nil && t.Node == u.Node {
				from, known = t.LastStatus, true
			}
		}
		if !known {
			status[u.ID] = u.LastStatus
			continue
		}
		e, err := transition(u.ID, from, u.LastStatus)
		if err != nil {
			return fmt.Errorf("updates[%d]: %w", i, err)
		}
		if e == applied {
			status[u.ID] = u.LastStatus
		}
	}
	return nil
}

func (c *RegisterNode) validate() error {
	n := c.Node
	switch {
	case n.ID == "":
		return errors.New("node.id: required")
	case n.CPU < 0 || n.MemoryMiB < 0 || n.GPUs < 0:
		return errors.New("node.cpu, node.memory, node.gpus: must not be negative")
	case n.PortMin < 0 || n.PortMax > 65535 || n.PortMin > n.PortMax:
		return fmt.Errorf("node.portMin, node.portMax: %d-%d is not a port range", n.PortMin, n.PortMax)
	}
	for i, p := range n.AllowedHostPaths {
		if !structs.CleanAbsPath(p) {
			return fmt.Errorf("node.allowedHostPaths[%d]: %q is not a clean absolute path", i, p)
		}
	}
	return nil
}

// DeleteTasks forgets stopped tasks (garbage collection).
type DeleteTasks struct {
	IDs []string `json:"ids"`
}

// RegisterTaskDefinition registers a definition for one-off tasks, reusing
// the newest revision of the family when it is identical.
type RegisterTaskDefinition struct {
	TaskDefinition structs.TaskDefinition `json:"taskDefinition"`
}

// ScaleService sets a service's desired count and leaves the rest of it as
// it is, so that a scale never overwrites a concurrent change.
type ScaleService struct {
	Name         string `json:"name"`
	DesiredCount int    `json:"desiredCount"`
	At           int64  `json:"at"`
}

// UpsertACLToken stores an API token. Once stored, a secret hash is never
// given to another accessor id.
type UpsertACLToken struct {
	Token structs.ACLToken `json:"token"`
}

func (c *UpsertACLToken) validate() error {
	t := c.Token
	switch {
	case t.AccessorID == "":
		return errors.New("token.accessorId: required")
	case len(t.SecretHash) != 64:
		return errors.New("token.secretHash: want the 64 hex digits of a SHA-256")
	case t.Policy != structs.PolicyManagement && t.Policy != structs.PolicyReadOnly:
		return fmt.Errorf("token.policy %q: want %s or %s", t.Policy, structs.PolicyManagement, structs.PolicyReadOnly)
	}
	return nil
}

// RotateSecret records a rotation of the cluster secret and replaces the
// bootstrap management token, which is derived from the secret, with the
// new secret's: whoever holds only the old join token can no longer use
// the token it derives.
type RotateSecret struct {
	Rotation  structs.SecretRotation `json:"rotation"`
	Bootstrap structs.ACLToken       `json:"bootstrap"`
}

func (c *RotateSecret) validate() error {
	r := c.Rotation
	switch {
	case r.Generation < 1:
		return fmt.Errorf("rotation.generation %d: want 1 or more", r.Generation)
	case len(r.Digest) != 64 || len(r.PrevDigest) != 64:
		return errors.New("rotation.digest and rotation.prevDigest: want the 64 hex digits of a SHA-256")
	case r.Digest == r.PrevDigest:
		return errors.New("rotation.digest: the new secret's CA is the old one's")
	case len(r.Sealed) == 0:
		return errors.New("rotation.sealed: required")
	}
	b := UpsertACLToken{Token: c.Bootstrap}
	if err := b.validate(); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return nil
}

// DeleteACLToken forgets an API token.
type DeleteACLToken struct {
	AccessorID string `json:"accessorId"`
}

// SetNodeStatus changes a node's status or eligibility; an empty field is
// left as it is. A node marked down loses its tasks: each active task becomes
// LOST, so that its service places a replacement elsewhere.
type SetNodeStatus struct {
	ID          string `json:"id"`
	Status      string `json:"status,omitempty"`
	Eligibility string `json:"eligibility,omitempty"`
	Reason      string `json:"reason,omitempty"`
	At          int64  `json:"at"`
}

// MaxTasksPerEntry is how many tasks one CommitPlan, UpdateTaskStatus or
// DeleteTasks entry should carry at most. An entry is applied in one
// transaction, which holds up every later entry and every reader's wait for
// the next state; entries of 400 tasks keep each apply to a few
// milliseconds and each log entry to about 100 KiB. A transaction clones a
// B-tree node once however many of its tasks write it, so the nodes near
// the roots, and those of the node and service indexes, where an entry's
// tasks sit together, cost once per entry rather than once per task.
const MaxTasksPerEntry = 400

// Encode frames a command as [type byte][JSON body]. JSON keeps the log
// readable with ordinary tools and is fast enough for batched entries.
func Encode(t CommandType, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	out := make([]byte, 1+len(b))
	out[0] = byte(t)
	copy(out[1:], b)
	return out, nil
}
