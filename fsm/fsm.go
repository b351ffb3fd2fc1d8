// Package fsm is skiff's replicated state machine: the typed commands that
// change the cluster state, the go-memdb state store, and the raft.FSM glue
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
	"sync"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"

	"github.com/skiff-run/skiff/structs"
)

// FSM is the replicated state machine. Raft calls Apply, Snapshot and
// Restore from one goroutine; State and Watch may be called from any
// goroutine at any time.
type FSM struct {
	mu    sync.Mutex // guards db, index and changed
	db    *memdb.MemDB
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
	return &FSM{db: newDB(), changed: make(chan struct{}), log: log}
}

// ErrCorrupt marks a log entry that does not decode as its command type.
var ErrCorrupt = errors.New("corrupt log entry")

// State returns a consistent read-only view of the newest applied state.
func (f *FSM) State() *State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &State{txn: f.db.Txn(false), index: f.index}
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
func (f *FSM) ApplyCommand(index uint64, data []byte) any {
	var res any
	var err error
	txn := f.db.Txn(true)
	defer txn.Abort()
	if len(data) == 0 {
		err = fmt.Errorf("%w: empty", ErrCorrupt)
	} else {
		res, err = (&writer{txn: txn}).dispatch(CommandType(data[0]), data[1:])
	}
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			f.log.Error("skipping a log entry that does not decode; the leader that wrote it is broken", "index", index, "err", err)
		}
		f.setIndex(index, nil)
		return err
	}
	f.setIndex(index, txn)
	return res
}

// setIndex commits txn (when not nil), records the index and wakes watchers,
// all under the lock so that State never pairs new data with an old index.
func (f *FSM) setIndex(index uint64, txn *memdb.Txn) {
	f.mu.Lock()
	if txn != nil {
		txn.Commit()
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

// writer applies commands inside one write transaction.
type writer struct{ txn *memdb.Txn }

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

func (w *writer) insert(table string, obj any) {
	if err := w.txn.Insert(table, obj); err != nil {
		panic(fmt.Sprintf("fsm: insert into %s: %v", table, err))
	}
}

func (w *writer) get(table string, args ...any) any { return w.first(table, "id", args...) }

// first reads one object by an index; a read error means a broken schema.
func (w *writer) first(table, index string, args ...any) any {
	obj, err := w.txn.First(table, index, args...)
	if err != nil {
		panic(fmt.Sprintf("fsm: read %s: %v", table, err))
	}
	return obj
}

func (w *writer) registerNode(c *RegisterNode) (any, error) {
	n := c.Node
	if n.ID == "" {
		return nil, errors.New("node id is empty")
	}
	if old, ok := w.get(tableNodes, n.ID).(*structs.Node); ok {
		n.Status, n.StatusReason, n.Eligibility = old.Status, old.StatusReason, old.Eligibility
	}
	if n.Status == "" {
		n.Status = structs.NodeReady
	}
	if n.Eligibility == "" {
		n.Eligibility = structs.EligibilityEligible
	}
	n.UpdatedAt = c.At
	w.insert(tableNodes, &n)
	return nil, nil
}

func (w *writer) setNodeStatus(c *SetNodeStatus) (any, error) {
	old, ok := w.get(tableNodes, c.ID).(*structs.Node)
	if !ok {
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
	w.insert(tableNodes, &n)
	if c.Status != structs.NodeDown || old.Status == structs.NodeDown {
		return nil, nil
	}
	it, err := w.txn.Get(tableTasks, "node", c.ID)
	if err != nil {
		panic(fmt.Sprintf("fsm: read tasks: %v", err))
	}
	var lost []*structs.Task
	for o := it.Next(); o != nil; o = it.Next() {
		if t := o.(*structs.Task); t.Active() {
			lost = append(lost, t)
		}
	}
	for _, old := range lost {
		t := *old
		t.LastStatus, t.DesiredStatus, t.StoppedAt = structs.StatusLost, structs.StatusStopped, c.At
		if t.StopReason == "" {
			t.StopReason = c.Reason
		}
		w.insert(tableTasks, &t)
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
	obj, err := w.txn.Get(tableTaskDefs, "family", td.Family)
	if err != nil {
		panic(fmt.Sprintf("fsm: read taskdefs: %v", err))
	}
	var latest *structs.TaskDefinition
	for o := obj.Next(); o != nil; o = obj.Next() {
		if t := o.(*structs.TaskDefinition); latest == nil || t.Revision > latest.Revision {
			latest = t
		}
	}
	if latest != nil && sameDefinition(latest, td) {
		return latest.Ref(), nil
	}
	n := *td
	n.Revision = 1
	if latest != nil {
		n.Revision = latest.Revision + 1
	}
	w.insert(tableTaskDefs, &n)
	return n.Ref(), nil
}

func (w *writer) applyService(c *ApplyService) (any, error) {
	s := c.Service
	if s.Name == "" {
		return "", errors.New("service name is empty")
	}
	if c.TaskDefinition != nil {
		ref, err := w.registerTaskDefinition(c.TaskDefinition)
		if err != nil {
			return "", err
		}
		s.TaskDefinition = ref
	} else {
		family, rev, err := structs.ParseTaskDefRef(s.TaskDefinition)
		if err != nil {
			return "", err
		}
		if w.get(tableTaskDefs, family, rev) == nil {
			return "", fmt.Errorf("task definition %s: %w", s.TaskDefinition, structs.ErrNotFound)
		}
	}
	s.CreatedAt = c.At
	s.PlacementFailure = nil
	if old, ok := w.get(tableServices, s.Name).(*structs.Service); ok {
		// Only the leader's plans change the placement verdict.
		s.CreatedAt, s.PlacementFailure = old.CreatedAt, old.PlacementFailure
	}
	s.UpdatedAt = c.At
	w.insert(tableServices, &s)
	return s.TaskDefinition, nil
}

func (w *writer) scaleService(c *ScaleService) (any, error) {
	old, ok := w.get(tableServices, c.Name).(*structs.Service)
	if !ok {
		return nil, fmt.Errorf("service %s: %w", c.Name, structs.ErrNotFound)
	}
	if c.DesiredCount < 0 {
		return nil, fmt.Errorf("desired count %d: want 0 or more", c.DesiredCount)
	}
	s := *old
	s.DesiredCount, s.UpdatedAt = c.DesiredCount, c.At
	w.insert(tableServices, &s)
	return nil, nil
}

func (w *writer) upsertACLToken(c *UpsertACLToken) (any, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	t := c.Token
	if other, ok := w.first(tableTokens, "secret", t.SecretHash).(*structs.ACLToken); ok && other.AccessorID != t.AccessorID {
		return nil, errors.New("token secret already in use")
	}
	w.insert(tableTokens, &t)
	return nil, nil
}

func (w *writer) deleteACLToken(c *DeleteACLToken) (any, error) {
	old, ok := w.get(tableTokens, c.AccessorID).(*structs.ACLToken)
	if !ok {
		return nil, fmt.Errorf("token %s: %w", c.AccessorID, structs.ErrNotFound)
	}
	if err := w.txn.Delete(tableTokens, old); err != nil {
		panic(fmt.Sprintf("fsm: delete token: %v", err))
	}
	return nil, nil
}

func (w *writer) deleteService(c *DeleteService) (any, error) {
	old, ok := w.get(tableServices, c.Name).(*structs.Service)
	if !ok {
		return nil, fmt.Errorf("service %s: %w", c.Name, structs.ErrNotFound)
	}
	if err := w.txn.Delete(tableServices, old); err != nil {
		panic(fmt.Sprintf("fsm: delete service: %v", err))
	}
	it, err := w.txn.Get(tableTasks, "service", c.Name)
	if err != nil {
		panic(fmt.Sprintf("fsm: read tasks: %v", err))
	}
	var stops []*structs.Task
	for o := it.Next(); o != nil; o = it.Next() {
		stops = append(stops, o.(*structs.Task))
	}
	for _, t := range stops {
		w.stopTask(t, c.Reason)
	}
	return nil, nil
}

// stopTask marks a task's desired status STOPPED. A task that no node has
// started yet stops at once, since nothing runs that could report it.
func (w *writer) stopTask(old *structs.Task, reason string) {
	if old.DesiredStatus == structs.StatusStopped {
		return
	}
	t := *old
	t.DesiredStatus = structs.StatusStopped
	if t.StopReason == "" {
		t.StopReason = reason
	}
	w.insert(tableTasks, &t)
}

func (w *writer) commitPlan(c *CommitPlan) (any, error) {
	for i := range c.Place {
		t := c.Place[i]
		if t.ID == "" || t.Node == "" {
			return nil, fmt.Errorf("placement %d: task id and node are required", i)
		}
		if w.get(tableTasks, t.ID) != nil {
			continue
		}
		t.CreatedAt = c.At
		w.insert(tableTasks, &t)
	}
	for _, s := range c.Stop {
		if old, ok := w.get(tableTasks, s.ID).(*structs.Task); ok {
			w.stopTask(old, s.Reason)
		}
	}
	for _, o := range c.Outcomes {
		if old, ok := w.get(tableServices, o.Service).(*structs.Service); ok {
			svc := *old
			svc.PlacementFailure = o.Failure
			w.insert(tableServices, &svc)
		}
	}
	return nil, nil
}

func (w *writer) updateTaskStatus(c *UpdateTaskStatus) (any, error) {
	for i := range c.Updates {
		u := &c.Updates[i]
		old, ok := w.get(tableTasks, u.ID).(*structs.Task)
		// A report about a task that is gone, or from a node the task
		// does not belong to, is stale. A report that reportTransitions
		// forbids, or that finds the task already over, changes nothing
		// either. Every replica decides this from the same state, and the
		// other reports of the batch still apply.
		if !ok || old.Node != u.Node || reportTransitions[old.LastStatus][u.LastStatus] != applied {
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
		w.insert(tableTasks, &t)
	}
	return nil, nil
}

func (w *writer) deleteTasks(c *DeleteTasks) (any, error) {
	for _, id := range c.IDs {
		if t, ok := w.get(tableTasks, id).(*structs.Task); ok && t.Terminal() {
			if err := w.txn.Delete(tableTasks, t); err != nil {
				panic(fmt.Sprintf("fsm: delete task: %v", err))
			}
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
	}
	if err := json.NewEncoder(sink).Encode(&data); err != nil {
		sink.Cancel()
		return fmt.Errorf("fsm: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() {}

// Restore implements raft.FSM: it replaces the whole state.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var data snapshotData
	if err := json.NewDecoder(rc).Decode(&data); err != nil {
		return fmt.Errorf("fsm: restore snapshot: %w", err)
	}
	db := newDB()
	txn := db.Txn(true)
	w := &writer{txn: txn}
	for _, n := range data.Nodes {
		w.insert(tableNodes, n)
	}
	for _, t := range data.TaskDefs {
		w.insert(tableTaskDefs, t)
	}
	for _, s := range data.Services {
		w.insert(tableServices, s)
	}
	for _, t := range data.Tasks {
		w.insert(tableTasks, t)
	}
	for _, t := range data.Tokens {
		w.insert(tableTokens, t)
	}
	for _, r := range data.Rotations {
		w.insert(tableRotations, r)
	}
	txn.Commit()
	f.mu.Lock()
	f.db, f.index = db, data.Index
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	return nil
}
