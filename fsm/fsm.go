// Package fsm is skiff's replicated state machine: the typed commands that
// change the cluster state, the copy-on-write state store, and the raft.FSM glue
// (Apply, Snapshot, Restore). It is the only writer of state and the only
// package that implements hashicorp/raft's FSM types.
package fsm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/skiff-run/skiff/structs"
)

// FSM is the replicated state machine. Raft calls Apply, Snapshot and
// Restore from one goroutine; State and Watch may be called from any
// goroutine at any time.
type FSM struct {
	// live is the newest state. Only Apply, ApplyCommand and Restore
	// touch it, and they never overlap; no reader ever holds it, so a
	// transaction may copy it.
	live *tables

	mu sync.Mutex // guards view, index and changed
	// view is a copy of live as of index that nothing writes; State hands
	// it out.
	view  *tables
	index uint64
	// changed is closed and replaced after every applied entry, so that
	// loops can sleep until the state moves.
	changed chan struct{}
	log     *slog.Logger
}

// Replica is the read side of a copy of the state; *FSM implements it.
type Replica interface {
	State() *State
	// Watch returns a channel closed at the next change.
	Watch() <-chan struct{}
}

// Committer commits a command to the cluster and returns what the FSM
// answered; the loops above the state machine write through it.
type Committer interface {
	Commit(ctx context.Context, t CommandType, body any) (any, error)
}

// New returns an empty FSM that logs to log (nil discards).
func New(log *slog.Logger) *FSM {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := newTables()
	return &FSM{live: t, view: t.copy(), changed: make(chan struct{}), log: log}
}

// ErrCorrupt marks a log entry that does not decode as its command type.
var ErrCorrupt = errors.New("corrupt log entry")

// State returns a consistent read-only view of the newest applied state.
func (f *FSM) State() *State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &State{t: f.view, index: f.index}
}

// Watch returns a channel that is closed the next time the state changes.
func (f *FSM) Watch() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// Apply implements raft.FSM. It returns the command's result (the task
// definition reference for RegisterTaskDefinition and ApplyService, else
// nil), or an error saying why the command was refused; a refused command
// changes nothing.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	return f.ApplyCommand(l.Index, l.Data)
}

// ApplyCommand applies one framed command at a log index. It is Apply
// without the raft.Log wrapper, for tests and benchmarks.
//
// An entry that does not decode changes nothing and is logged as an error:
// every replica meets the same bytes and skips them the same way, so the
// replicas stay equal, and a poisoned entry cannot stop the cluster.
//
// The command writes into a copy of the live tables, its transaction; a
// refused command drops the copy, so that it changes nothing but the
// index, and an accepted one makes the copy the live tables.
func (f *FSM) ApplyCommand(index uint64, data []byte) any {
	var res any
	var err error
	txn := f.live.copy()
	txn.at = index
	if len(data) == 0 {
		err = fmt.Errorf("%w: empty", ErrCorrupt)
	} else {
		res, err = (&writer{t: txn}).dispatch(CommandType(data[0]), data[1:])
	}
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			f.log.Error("skipping a log entry that does not decode; the leader that wrote it is broken", "index", index, "err", err)
		}
		f.publish(index, nil)
		return err
	}
	f.live = txn
	f.publish(index, txn.copy())
	return res
}

// publish makes view (when not nil) the state readers see, records the
// index and wakes watchers, all under the lock so that State never pairs
// new data with an old index.
func (f *FSM) publish(index uint64, view *tables) {
	f.mu.Lock()
	if view != nil {
		f.view = view
	}
	f.index = index
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// decode unmarshals a command body. An error wraps ErrCorrupt.
func decode(t CommandType, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, t, err)
	}
	return nil
}

// validator is implemented by commands that can check themselves before
// they enter the log.
type validator interface{ validate() error }

// stateValidator is implemented by commands whose legality also depends on
// the state they would apply to.
type stateValidator interface{ validateAgainst(st *State) error }

// Check decodes a framed command as Apply would and runs the command's own
// checks, without the state. The leader runs it on every command it did
// not build itself (those other agents forward) before it enters the log;
// an error says what is wrong.
func Check(cmd []byte) error { return check(nil, cmd) }

// Check is fsm.Check against this state as well: it also refuses what the
// command may not do to the state as it is, such as a node's report that
// would bring a stopped task back. The state may move before the command
// applies, so Apply decides again; what Check refuses here, Apply would
// skip, since no task comes back from a final status.
func (s *State) Check(cmd []byte) error { return check(s, cmd) }

// check is Check, against st when it is not nil.
func check(st *State, cmd []byte) error {
	if len(cmd) == 0 {
		return errors.New("empty command")
	}
	t := CommandType(cmd[0])
	h, ok := handlers[t&^IgnoreUnknownFlag]
	if !ok {
		return fmt.Errorf("unknown command type %d", t)
	}
	return h.check(st, t, cmd[1:])
}

// writer applies commands inside one write transaction: tables that only
// it writes, and that become the live state only if the command succeeds.
type writer struct{ t *tables }

// handler applies one command body; apply returns the command's result, or
// an error saying why it was refused.
type handler struct {
	name  string
	apply func(w *writer, t CommandType, body []byte) (any, error)
	check func(st *State, t CommandType, body []byte) error
}

// command makes a handler that decodes a body of type C and applies it.
func command[C any](name string, apply func(*writer, *C) (any, error)) handler {
	return handler{name: name,
		apply: func(w *writer, t CommandType, body []byte) (any, error) {
			var c C
			if err := decode(t, body, &c); err != nil {
				return nil, err
			}
			return apply(w, &c)
		},
		check: func(st *State, t CommandType, body []byte) error {
			var c C
			if err := decode(t, body, &c); err != nil {
				return err
			}
			if v, ok := any(&c).(validator); ok {
				if err := v.validate(); err != nil {
					return err
				}
			}
			if v, ok := any(&c).(stateValidator); ok && st != nil {
				return v.validateAgainst(st)
			}
			return nil
		},
	}
}

// handlers maps every command type to its handler. Like the type list, it
// only grows.
var handlers = map[CommandType]handler{
	CmdRegisterNode:           command("RegisterNode", (*writer).registerNode),
	CmdApplyService:           command("ApplyService", (*writer).applyService),
	CmdDeleteService:          command("DeleteService", (*writer).deleteService),
	CmdCommitPlan:             command("CommitPlan", (*writer).commitPlan),
	CmdUpdateTaskStatus:       command("UpdateTaskStatus", (*writer).updateTaskStatus),
	CmdDeleteTasks:            command("DeleteTasks", (*writer).deleteTasks),
	CmdRegisterTaskDefinition: command("RegisterTaskDefinition", (*writer).registerTaskDefinitionCmd),
	CmdSetNodeStatus:          command("SetNodeStatus", (*writer).setNodeStatus),
	CmdScaleService:           command("ScaleService", (*writer).scaleService),
	CmdUpsertACLToken:         command("UpsertACLToken", (*writer).upsertACLToken),
	CmdDeleteACLToken:         command("DeleteACLToken", (*writer).deleteACLToken),
	CmdRotateSecret:           command("RotateSecret", (*writer).rotateSecret),
	CmdSetSecret:              command("SetSecret", (*writer).setSecret),
	CmdDeleteSecret:           command("DeleteSecret", (*writer).deleteSecret),
	CmdResealSecrets:          command("ResealSecrets", (*writer).resealSecrets),
	CmdApplyDaemonService:     command("ApplyDaemonService", (*writer).applyDaemonService),
	CmdApplySchedule:          command("ApplySchedule", (*writer).applySchedule),
	CmdDeleteSchedule:         command("DeleteSchedule", (*writer).deleteSchedule),
	CmdRecordScheduleRun:      command("RecordScheduleRun", (*writer).recordScheduleRun),
	CmdUpdateDeployment:       command("UpdateDeployment", (*writer).updateDeployment),
	CmdSetServiceRevision:     command("SetServiceRevision", (*writer).setServiceRevision),
	CmdMoveTask:               command("MoveTask", (*writer).moveTask),
	CmdRecordEvent:            command("RecordEvent", (*writer).recordEvent),
	CmdPlaceTasks:             command("PlaceTasks", (*writer).placeTasks),
	CmdApplyBalancedService:   command("ApplyBalancedService", (*writer).applyBalancedService),
	CmdApplySourcedService:    command("ApplySourcedService", (*writer).applySourcedService),
}

// dispatch applies one command. A type this replica does not know stops it,
// unless the leader marked the entry ignorable: replaying past a command it
// cannot apply would make this replica diverge from the others.
func (w *writer) dispatch(t CommandType, body []byte) (any, error) {
	h, ok := handlers[t&^IgnoreUnknownFlag]
	if !ok {
		if t&IgnoreUnknownFlag != 0 {
			return nil, nil
		}
		panic(fmt.Sprintf("fsm: unknown command type %d: this agent applies types up to %d (%s) and is older than the leader that wrote it; upgrade it", t, Newest(), Newest()))
	}
	return h.apply(w, t, body)
}

func (w *writer) registerNode(c *RegisterNode) (any, error) {
	n := c.Node
	if n.ID == "" {
		return nil, errors.New("node id is empty")
	}
	old := w.t.node(n.ID)
	if old != nil {
		n.Status, n.StatusReason, n.Eligibility = old.Status, old.StatusReason, old.Eligibility
	}
	if n.Status == "" {
		n.Status = structs.NodeReady
	}
	if n.Eligibility == "" {
		n.Eligibility = structs.EligibilityEligible
	}
	n.UpdatedAt = c.At
	w.t.putNode(&n)
	if old == nil {
		msg := "node " + w.nodeName(n.ID) + " joined"
		if n.Address != "" {
			msg += " at " + n.Address
		}
		w.event(structs.EventNodeRegistered, c.At, structs.Event{Node: n.ID, Message: msg})
	}
	return nil, nil
}

func (w *writer) setNodeStatus(c *SetNodeStatus) (any, error) {
	old := w.t.node(c.ID)
	if old == nil {
		return nil, fmt.Errorf("node %s: %w", c.ID, structs.ErrNotFound)
	}
	switch c.Status {
	case "", structs.NodeReady, structs.NodeDown:
	default:
		return nil, fmt.Errorf("node status %q: want %s or %s", c.Status, structs.NodeReady, structs.NodeDown)
	}
	switch c.Eligibility {
	case "", structs.EligibilityEligible, structs.EligibilityIneligible:
	default:
		return nil, fmt.Errorf("node eligibility %q: want %s or %s", c.Eligibility, structs.EligibilityEligible, structs.EligibilityIneligible)
	}
	n := *old
	if c.Status != "" {
		n.Status = c.Status
		n.StatusReason = ""
		if c.Status == structs.NodeDown {
			n.StatusReason = c.Reason
		}
	}
	if c.Eligibility != "" {
		n.Eligibility = c.Eligibility
	}
	n.UpdatedAt = c.At
	w.t.putNode(&n)
	name := w.nodeName(n.ID)
	switch {
	case n.Status == old.Status:
	case n.Status == structs.NodeDown:
		msg := "node " + name + " is down"
		if c.Reason != "" {
			msg += ": " + c.Reason
		}
		w.event(structs.EventNodeDown, c.At, structs.Event{Node: n.ID, Message: msg})
	default:
		w.event(structs.EventNodeUp, c.At, structs.Event{Node: n.ID, Message: "node " + name + " is up again"})
	}
	switch {
	case n.Eligibility == old.Eligibility:
	case n.Eligibility == structs.EligibilityIneligible:
		w.event(structs.EventNodeDrained, c.At, structs.Event{Node: n.ID, Message: "node " + name + " is drained: it takes no new tasks and its tasks move elsewhere"})
	default:
		w.event(structs.EventNodeEligible, c.At, structs.Event{Node: n.ID, Message: "node " + name + " takes tasks again"})
	}
	if c.Status != structs.NodeDown || old.Status == structs.NodeDown {
		return nil, nil
	}
	// tasksOf returns a slice, so the writes below do not disturb the scan.
	for _, old := range tasksOf(w.t.tasksByNode, c.ID) {
		if !old.Active() {
			continue
		}
		t := *old
		t.LastStatus, t.DesiredStatus, t.StoppedAt = structs.StatusLost, structs.StatusStopped, c.At
		if t.StopReason == "" {
			t.StopReason = c.Reason
		}
		w.t.putTask(&t)
		w.taskEvent(structs.EventTaskLost, c.At, &t, taskLabel(&t)+" lost with node "+name+": "+t.StopReason)
	}
	return nil, nil
}

// sameDefinition compares two definitions, ignoring the revision.
func sameDefinition(a, b *structs.TaskDefinition) bool {
	x, y := *a, *b
	x.Revision, y.Revision = 0, 0
	ja, _ := json.Marshal(&x)
	jb, _ := json.Marshal(&y)
	return bytes.Equal(ja, jb)
}

func (w *writer) registerTaskDefinitionCmd(c *RegisterTaskDefinition) (any, error) {
	return w.registerTaskDefinition(&c.TaskDefinition)
}

// registerTaskDefinition returns the ref of the family's newest revision when
// it equals td, or registers td as the next revision.
func (w *writer) registerTaskDefinition(td *structs.TaskDefinition) (string, error) {
	if td.Family == "" {
		return "", errors.New("task definition family is empty")
	}
	latest := w.t.latestTaskDef(td.Family)
	if latest != nil && sameDefinition(latest, td) {
		return latest.Ref(), nil
	}
	n := *td
	n.Revision = 1
	if latest != nil {
		n.Revision = latest.Revision + 1
	}
	w.t.putTaskDef(&n)
	return n.Ref(), nil
}

func (w *writer) applyService(c *ApplyService) (any, error) {
	if err := unbalanced(c, CmdApplyService); err != nil {
		return "", err
	}
	if c.Service.SchedulingStrategy != "" {
		return "", fmt.Errorf("scheduling strategy %q: ApplyService takes replica services only, with the strategy left empty", c.Service.SchedulingStrategy)
	}
	return w.putApplied(c)
}

// applyDaemonService is applyService for a daemon, which has no desired
// count: the leader keeps one task on every node that may run it.
func (w *writer) applyDaemonService(c *ApplyService) (any, error) {
	if err := unbalanced(c, CmdApplyDaemonService); err != nil {
		return "", err
	}
	switch {
	case c.Service.SchedulingStrategy != structs.SchedulingDaemon:
		return "", fmt.Errorf("scheduling strategy %q: ApplyDaemonService takes %s services only", c.Service.SchedulingStrategy, structs.SchedulingDaemon)
	case c.Service.DesiredCount != 0:
		return "", fmt.Errorf("desired count %d: a daemon service has none", c.Service.DesiredCount)
	}
	return w.putApplied(c)
}

// applySourcedService is applyService, or applyBalancedService for a
// service with load balancers, or applyDaemonService for a daemon, for a
// service that records the directory it was applied from.
func (w *writer) applySourcedService(c *ApplyService) (any, error) {
	if c.Service.Source == "" {
		return "", errors.New("source is empty: ApplySourcedService takes services applied from a directory only")
	}
	switch {
	case len(c.Service.LoadBalancers) > 0:
		return w.applyBalancedService(c)
	case c.Service.IsDaemon():
		return w.applyDaemonService(c)
	}
	return w.applyService(c)
}

// resolveTaskDef returns the reference a service or schedule runs: td
// registered (or the family's identical newest revision) when given, else
// ref checked against the registry, a family alone naming its newest
// revision, as in ECS. It resolves inside Apply, so that a registration
// just before the apply is the one the service gets.
func (w *writer) resolveTaskDef(td *structs.TaskDefinition, ref string) (string, error) {
	if td != nil {
		return w.registerTaskDefinition(td)
	}
	if !strings.Contains(ref, ":") {
		latest := w.t.latestTaskDef(ref)
		if latest == nil {
			return "", fmt.Errorf("task definition family %s: %w", ref, structs.ErrNotFound)
		}
		return latest.Ref(), nil
	}
	family, rev, err := structs.ParseTaskDefRef(ref)
	if err != nil {
		return "", err
	}
	if w.t.taskDef(family, rev) == nil {
		return "", fmt.Errorf("task definition %s: %w", ref, structs.ErrNotFound)
	}
	return ref, nil
}

func (w *writer) putApplied(c *ApplyService) (any, error) {
	s := c.Service
	if s.Name == "" {
		return "", errors.New("service name is empty")
	}
	ref, err := w.resolveTaskDef(c.TaskDefinition, s.TaskDefinition)
	if err != nil {
		return "", err
	}
	s.TaskDefinition = ref
	if err := w.reservedPorts(&s); err != nil {
		return "", err
	}
	s.CreatedAt = c.At
	s.PlacementFailure, s.Deployments = nil, nil
	old := w.t.service(s.Name)
	if old != nil {
		// Only the leader's plans change the placement verdict, and only
		// its UpdateDeployment entries the deployments.
		s.CreatedAt, s.PlacementFailure, s.Deployments = old.CreatedAt, old.PlacementFailure, old.Deployments
	}
	s.UpdatedAt = c.At
	w.t.putService(&s)
	how := " created: "
	if old != nil {
		how = " updated: "
	}
	what := "daemon service " + s.Name + how + s.TaskDefinition + " on every node that may run it"
	if !s.IsDaemon() {
		what = "service " + s.Name + how + strconv.Itoa(s.DesiredCount) + " of " + s.TaskDefinition
	}
	w.serviceEvent(structs.EventServiceApplied, c.At, s.Name, what)
	return s.TaskDefinition, nil
}

// reservedPorts refuses a service whose tasks would take a listener port
// as a static host port, or whose listener port another service's tasks
// take as one: on every node the agent's listener and the task would
// clash. It reads the other services inside Apply, so that of two
// services applied at once only the first gets the port.
func (w *writer) reservedPorts(s *structs.Service) error {
	def := func(ref string) *structs.TaskDefinition {
		family, rev, err := structs.ParseTaskDefRef(ref)
		if err != nil {
			return nil
		}
		return w.t.taskDef(family, rev)
	}
	if field, why := structs.ReservedPortConflict(s, def(s.TaskDefinition), "taskDefinition("+s.TaskDefinition+")", all(w.t.services), def); field != "" {
		return fmt.Errorf("%w: service %s: %s: %s", structs.ErrConflict, s.Name, field, why)
	}
	return nil
}

func (w *writer) scaleService(c *ScaleService) (any, error) {
	old := w.t.service(c.Name)
	if old == nil {
		return nil, fmt.Errorf("service %s: %w", c.Name, structs.ErrNotFound)
	}
	if c.DesiredCount < 0 {
		return nil, fmt.Errorf("desired count %d: want 0 or more", c.DesiredCount)
	}
	if old.IsDaemon() {
		return nil, fmt.Errorf("service %s is a daemon, which runs one task on every node that may run it: it has no desired count to scale", c.Name)
	}
	s := *old
	s.DesiredCount, s.UpdatedAt = c.DesiredCount, c.At
	w.t.putService(&s)
	w.serviceEvent(structs.EventServiceScaled, c.At, s.Name, "service "+s.Name+" scaled from "+strconv.Itoa(old.DesiredCount)+" to "+strconv.Itoa(s.DesiredCount))
	return nil, nil
}

func (w *writer) upsertACLToken(c *UpsertACLToken) (any, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	t := c.Token
	if other := w.t.tokenBySecret(t.SecretHash); other != nil && other.AccessorID != t.AccessorID {
		return nil, errors.New("token secret already in use")
	}
	w.t.putToken(&t)
	return nil, nil
}

func (w *writer) deleteACLToken(c *DeleteACLToken) (any, error) {
	if w.t.token(c.AccessorID) == nil {
		return nil, fmt.Errorf("token %s: %w", c.AccessorID, structs.ErrNotFound)
	}
	w.t.deleteToken(c.AccessorID)
	return nil, nil
}

func (w *writer) deleteService(c *DeleteService) (any, error) {
	old := w.t.service(c.Name)
	if old == nil {
		return nil, fmt.Errorf("service %s: %w", c.Name, structs.ErrNotFound)
	}
	w.t.deleteService(old.Name)
	msg := "service " + old.Name + " removed"
	if c.Reason != "" {
		msg += ": " + c.Reason
	}
	w.serviceEvent(structs.EventServiceRemoved, c.At, old.Name, msg)
	// tasksOf returns a slice, so the writes below do not disturb the scan.
	for _, t := range tasksOf(w.t.tasksByService, c.Name) {
		w.stopTask(t, c.Reason, c.At)
	}
	return nil, nil
}

// stopTask marks a task's desired status STOPPED. A task that no node has
// started yet stops at once, since nothing runs that could report it.
func (w *writer) stopTask(old *structs.Task, reason string, at int64) {
	if old.DesiredStatus == structs.StatusStopped {
		return
	}
	t := *old
	t.DesiredStatus = structs.StatusStopped
	if t.StopReason == "" {
		t.StopReason = reason
	}
	// An unplaced task has no node that would ever report it stopped.
	if t.Unplaced() {
		t.LastStatus = structs.StatusStopped
	}
	w.t.putTask(&t)
	msg := taskLabel(&t) + " on " + w.nodeName(t.Node) + " asked to stop"
	if t.StopReason != "" {
		msg += ": " + t.StopReason
	}
	w.taskEvent(structs.EventTaskStopping, at, &t, msg)
}

func (w *writer) commitPlan(c *CommitPlan) (any, error) {
	for i := range c.Place {
		t := c.Place[i]
		if t.ID == "" || t.Node == "" {
			return nil, fmt.Errorf("placement %d: task id and node are required", i)
		}
		if w.t.task(t.ID) != nil {
			continue
		}
		t.CreatedAt = c.At
		w.t.putTask(&t)
		w.taskEvent(structs.EventTaskPlaced, c.At, &t, taskLabel(&t)+" placed on "+w.nodeName(t.Node))
	}
	for _, s := range c.Stop {
		if old := w.t.task(s.ID); old != nil {
			w.stopTask(old, s.Reason, c.At)
		}
	}
	for _, o := range c.Outcomes {
		if old := w.t.service(o.Service); old != nil {
			w.outcomeEvent(c.At, old, o.Failure)
			svc := *old
			svc.PlacementFailure = o.Failure
			w.t.putService(&svc)
		}
	}
	return nil, nil
}

func (w *writer) updateTaskStatus(c *UpdateTaskStatus) (any, error) {
	for i := range c.Updates {
		u := &c.Updates[i]
		old := w.t.task(u.ID)
		// A report about a task that is gone, or from a node the task
		// does not belong to, is stale. A report that reportTransitions
		// forbids, or that finds the task already over, changes nothing
		// either. Every replica decides this from the same state, and the
		// other reports of the batch still apply.
		if old == nil || old.Node != u.Node || reportTransitions[old.LastStatus][u.LastStatus] != applied {
			continue
		}
		t := *old
		t.LastStatus = u.LastStatus
		t.Containers = u.Containers
		if u.LastStatus == structs.StatusRunning && t.StartedAt == 0 {
			t.StartedAt = u.At
		}
		if u.LastStatus == structs.StatusStopped {
			// A task that stops while still wanted has failed; the
			// leader backs off before replacing failed tasks.
			t.Failed = t.DesiredStatus == structs.StatusRunning
			t.DesiredStatus = structs.StatusStopped
			t.StoppedAt = u.At
			if t.StopReason == "" {
				t.StopReason = u.StopReason
			}
		}
		w.t.putTask(&t)
		w.taskStatusEvents(old, &t, u.At)
	}
	return nil, nil
}

func (w *writer) deleteTasks(c *DeleteTasks) (any, error) {
	for _, id := range c.IDs {
		if t := w.t.task(id); t != nil && t.Terminal() {
			w.t.deleteTask(id)
		}
	}
	return nil, nil
}

// snapshotData is the on-disk form of a snapshot.
type snapshotData struct {
	// Index is the log index the snapshot reflects.
	Index    uint64                    `json:"index"`
	Nodes    []*structs.Node           `json:"nodes"`
	TaskDefs []*structs.TaskDefinition `json:"taskDefinitions"`
	Services []*structs.Service        `json:"services"`
	Tasks    []*structs.Task           `json:"tasks"`
	Tokens   []*structs.ACLToken       `json:"aclTokens,omitempty"`
	// Rotations carry the sealed secrets, never a secret in the clear.
	Rotations []*structs.SecretRotation `json:"rotations,omitempty"`
	// Secrets carry sealed values only.
	Secrets   []*structs.Secret   `json:"secrets,omitempty"`
	Schedules []*structs.Schedule `json:"schedules,omitempty"`
	// Events are the recent events, oldest first.
	Events            []*structs.Event `json:"events,omitempty"`
	EventsLostThrough uint64           `json:"eventsLostThrough,omitempty"`
}

// Snapshot implements raft.FSM. The view is taken here, on the FSM's
// goroutine; Persist may then run concurrently with further Applies.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) { return &snapshot{state: f.State()}, nil }

type snapshot struct{ state *State }

// Persist streams every table as one JSON document.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	data := snapshotData{
		Index:     s.state.Index(),
		Nodes:     s.state.Nodes(),
		TaskDefs:  s.state.TaskDefinitions(),
		Services:  s.state.Services(),
		Tasks:     s.state.Tasks(),
		Tokens:    s.state.ACLTokens(),
		Rotations: s.state.Rotations(),
		Secrets:   s.state.Secrets(),
		Schedules: s.state.Schedules(),
		Events:    s.state.EventsAfter(0),

		EventsLostThrough: s.state.EventsLostThrough(),
	}
	if err := json.NewEncoder(sink).Encode(&data); err != nil {
		sink.Cancel()
		return fmt.Errorf("fsm: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() {}

// Restore implements raft.FSM: it replaces the whole state. Raft calls it
// on the goroutine that applies, never during an Apply.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var data snapshotData
	if err := json.NewDecoder(rc).Decode(&data); err != nil {
		return fmt.Errorf("fsm: restore snapshot: %w", err)
	}
	t := newTables()
	t.at = data.Index
	for _, n := range data.Nodes {
		t.putNode(n)
	}
	for _, td := range data.TaskDefs {
		t.putTaskDef(td)
	}
	for _, s := range data.Services {
		t.putService(s)
	}
	for _, task := range data.Tasks {
		t.putTask(task)
	}
	for _, tok := range data.Tokens {
		t.putToken(tok)
	}
	for _, r := range data.Rotations {
		t.putRotation(r)
	}
	for _, sec := range data.Secrets {
		t.putSecret(sec)
	}
	for _, sc := range data.Schedules {
		t.putSchedule(sc)
	}
	for _, e := range data.Events {
		t.putEvent(e)
	}
	t.eventsLostThrough = max(t.eventsLostThrough, data.EventsLostThrough)
	f.live = t
	f.publish(data.Index, t.copy())
	return nil
}
