package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
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
}

// New returns an empty FSM.
func New() *FSM { return &FSM{db: newDB(), changed: make(chan struct{})} }

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

// ErrNotFound marks a command that names something the state lacks.
var ErrNotFound = errors.New("not found")

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
func (f *FSM) ApplyCommand(index uint64, data []byte) any {
	if len(data) == 0 {
		panic(fmt.Sprintf("fsm: empty log entry at index %d", index))
	}
	txn := f.db.Txn(true)
	defer txn.Abort()
	w := &writer{txn: txn}
	res, err := w.dispatch(CommandType(data[0]), data[1:])
	if err != nil {
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

// decode unmarshals a command body. A body that does not decode was written
// by a broken leader or the log is corrupt; replaying past it would make the
// replicas diverge, so it stops the process.
func decode(t CommandType, body []byte, v any) {
	if err := json.Unmarshal(body, v); err != nil {
		panic(fmt.Sprintf("fsm: corrupt %s entry: %v", t, err))
	}
}

// writer applies commands inside one write transaction.
type writer struct{ txn *memdb.Txn }

func (w *writer) dispatch(t CommandType, body []byte) (any, error) {
	switch t {
	case CmdRegisterNode:
		var c RegisterNode
		decode(t, body, &c)
		return nil, w.registerNode(&c)
	case CmdApplyService:
		var c ApplyService
		decode(t, body, &c)
		return w.applyService(&c)
	case CmdDeleteService:
		var c DeleteService
		decode(t, body, &c)
		return nil, w.deleteService(&c)
	case CmdCommitPlan:
		var c CommitPlan
		decode(t, body, &c)
		return nil, w.commitPlan(&c)
	case CmdUpdateTaskStatus:
		var c UpdateTaskStatus
		decode(t, body, &c)
		return nil, w.updateTaskStatus(&c)
	case CmdDeleteTasks:
		var c DeleteTasks
		decode(t, body, &c)
		return nil, w.deleteTasks(&c)
	case CmdRegisterTaskDefinition:
		var c RegisterTaskDefinition
		decode(t, body, &c)
		return w.registerTaskDefinition(&c.TaskDefinition)
	case CmdSetNodeStatus:
		var c SetNodeStatus
		decode(t, body, &c)
		return nil, w.setNodeStatus(&c)
	}
	panic(fmt.Sprintf("fsm: unknown command type %d", t))
}

func (w *writer) insert(table string, obj any) {
	if err := w.txn.Insert(table, obj); err != nil {
		panic(fmt.Sprintf("fsm: insert into %s: %v", table, err))
	}
}

func (w *writer) get(table string, args ...any) any {
	obj, err := w.txn.First(table, "id", args...)
	if err != nil {
		panic(fmt.Sprintf("fsm: read %s: %v", table, err))
	}
	return obj
}

func (w *writer) registerNode(c *RegisterNode) error {
	n := c.Node
	if n.ID == "" {
		return errors.New("node id is empty")
	}
	if old, ok := w.get(tableNodes, n.ID).(*Node); ok {
		n.Status, n.Eligibility = old.Status, old.Eligibility
	}
	if n.Status == "" {
		n.Status = NodeReady
	}
	if n.Eligibility == "" {
		n.Eligibility = EligibilityEligible
	}
	n.UpdatedAt = c.At
	w.insert(tableNodes, &n)
	return nil
}

func (w *writer) setNodeStatus(c *SetNodeStatus) error {
	old, ok := w.get(tableNodes, c.ID).(*Node)
	if !ok {
		return fmt.Errorf("node %s: %w", c.ID, ErrNotFound)
	}
	switch c.Status {
	case "", NodeReady, NodeDown:
	default:
		return fmt.Errorf("node status %q: want %s or %s", c.Status, NodeReady, NodeDown)
	}
	switch c.Eligibility {
	case "", EligibilityEligible, EligibilityIneligible:
	default:
		return fmt.Errorf("node eligibility %q: want %s or %s", c.Eligibility, EligibilityEligible, EligibilityIneligible)
	}
	n := *old
	if c.Status != "" {
		n.Status = c.Status
	}
	if c.Eligibility != "" {
		n.Eligibility = c.Eligibility
	}
	n.UpdatedAt = c.At
	w.insert(tableNodes, &n)
	if c.Status != NodeDown || old.Status == NodeDown {
		return nil
	}
	it, err := w.txn.Get(tableTasks, "node", c.ID)
	if err != nil {
		panic(fmt.Sprintf("fsm: read tasks: %v", err))
	}
	var lost []*Task
	for o := it.Next(); o != nil; o = it.Next() {
		if t := o.(*Task); t.Active() {
			lost = append(lost, t)
		}
	}
	for _, old := range lost {
		t := *old
		t.LastStatus, t.DesiredStatus, t.StoppedAt = StatusLost, StatusStopped, c.At
		if t.StopReason == "" {
			t.StopReason = c.Reason
		}
		w.insert(tableTasks, &t)
	}
	return nil
}

// sameDefinition compares two definitions, ignoring the revision.
func sameDefinition(a, b *TaskDefinition) bool {
	x, y := *a, *b
	x.Revision, y.Revision = 0, 0
	ja, _ := json.Marshal(&x)
	jb, _ := json.Marshal(&y)
	return bytes.Equal(ja, jb)
}

// registerTaskDefinition returns the ref of the family's newest revision when
// it equals td, or registers td as the next revision.
func (w *writer) registerTaskDefinition(td *TaskDefinition) (string, error) {
	if td.Family == "" {
		return "", errors.New("task definition family is empty")
	}
	obj, err := w.txn.Get(tableTaskDefs, "family", td.Family)
	if err != nil {
		panic(fmt.Sprintf("fsm: read taskdefs: %v", err))
	}
	var latest *TaskDefinition
	for o := obj.Next(); o != nil; o = obj.Next() {
		if t := o.(*TaskDefinition); latest == nil || t.Revision > latest.Revision {
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

func (w *writer) applyService(c *ApplyService) (string, error) {
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
		family, rev, err := ParseTaskDefRef(s.TaskDefinition)
		if err != nil {
			return "", err
		}
		if w.get(tableTaskDefs, family, rev) == nil {
			return "", fmt.Errorf("task definition %s: %w", s.TaskDefinition, ErrNotFound)
		}
	}
	s.CreatedAt = c.At
	if old, ok := w.get(tableServices, s.Name).(*Service); ok {
		s.CreatedAt = old.CreatedAt
	}
	s.UpdatedAt = c.At
	w.insert(tableServices, &s)
	return s.TaskDefinition, nil
}

func (w *writer) deleteService(c *DeleteService) error {
	old, ok := w.get(tableServices, c.Name).(*Service)
	if !ok {
		return fmt.Errorf("service %s: %w", c.Name, ErrNotFound)
	}
	if err := w.txn.Delete(tableServices, old); err != nil {
		panic(fmt.Sprintf("fsm: delete service: %v", err))
	}
	it, err := w.txn.Get(tableTasks, "service", c.Name)
	if err != nil {
		panic(fmt.Sprintf("fsm: read tasks: %v", err))
	}
	var stops []*Task
	for o := it.Next(); o != nil; o = it.Next() {
		stops = append(stops, o.(*Task))
	}
	for _, t := range stops {
		w.stopTask(t, c.Reason)
	}
	return nil
}

// stopTask marks a task's desired status STOPPED. A task that no node has
// started yet stops at once, since nothing runs that could report it.
func (w *writer) stopTask(old *Task, reason string) {
	if old.DesiredStatus == StatusStopped {
		return
	}
	t := *old
	t.DesiredStatus = StatusStopped
	if t.StopReason == "" {
		t.StopReason = reason
	}
	w.insert(tableTasks, &t)
}

func (w *writer) commitPlan(c *CommitPlan) error {
	for i := range c.Place {
		t := c.Place[i]
		if t.ID == "" || t.Node == "" {
			return fmt.Errorf("placement %d: task id and node are required", i)
		}
		if w.get(tableTasks, t.ID) != nil {
			continue
		}
		t.CreatedAt = c.At
		w.insert(tableTasks, &t)
	}
	for _, s := range c.Stop {
		if old, ok := w.get(tableTasks, s.ID).(*Task); ok {
			w.stopTask(old, s.Reason)
		}
	}
	return nil
}

func (w *writer) updateTaskStatus(c *UpdateTaskStatus) error {
	for i := range c.Updates {
		u := &c.Updates[i]
		old, ok := w.get(tableTasks, u.ID).(*Task)
		// A report from a node the task no longer belongs to, or about a
		// task that already stopped, is stale: stopped is final.
		if !ok || old.Node != u.Node || old.Terminal() {
			continue
		}
		t := *old
		t.LastStatus = u.LastStatus
		t.Containers = u.Containers
		if u.LastStatus == StatusRunning && t.StartedAt == 0 {
			t.StartedAt = u.At
		}
		if u.LastStatus == StatusStopped {
			// A task that stops while still wanted has failed; the
			// leader backs off before replacing failed tasks.
			t.Failed = t.DesiredStatus == StatusRunning
			t.DesiredStatus = StatusStopped
			t.StoppedAt = u.At
			if t.StopReason == "" {
				t.StopReason = u.StopReason
			}
		}
		w.insert(tableTasks, &t)
	}
	return nil
}

func (w *writer) deleteTasks(c *DeleteTasks) error {
	for _, id := range c.IDs {
		if t, ok := w.get(tableTasks, id).(*Task); ok && t.Terminal() {
			if err := w.txn.Delete(tableTasks, t); err != nil {
				panic(fmt.Sprintf("fsm: delete task: %v", err))
			}
		}
	}
	return nil
}

// snapshotData is the on-disk form of a snapshot.
type snapshotData struct {
	Nodes    []*Node           `json:"nodes"`
	TaskDefs []*TaskDefinition `json:"taskDefinitions"`
	Services []*Service        `json:"services"`
	Tasks    []*Task           `json:"tasks"`
}

// Snapshot implements raft.FSM. The view is taken here, on the FSM's
// goroutine; Persist may then run concurrently with further Applies.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) { return &snapshot{state: f.State()}, nil }

type snapshot struct{ state *State }

// Persist streams every table as one JSON document.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	data := snapshotData{
		Nodes:    s.state.Nodes(),
		TaskDefs: s.state.TaskDefinitions(),
		Services: s.state.Services(),
		Tasks:    s.state.Tasks(),
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
	txn.Commit()
	f.mu.Lock()
	f.db = db
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	return nil
}
