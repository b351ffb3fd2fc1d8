package fsm

import (
	"math"
	"slices"

	"github.com/tidwall/btree"

	"github.com/skiff-run/skiff/structs"
)

// The state store keeps each table, and each secondary index, in a
// copy-on-write B-tree. Copying a tree is O(1): the copy shares every node
// with the original, and whichever of the two is written clones a node the
// first time it changes it after the copy. A write transaction is a copy of
// the tables; it clones only the nodes its writes touch, once each, so an
// entry of 400 tasks costs time in proportion to the entry, not to the
// state. A read view is another copy that nobody writes, so it never moves.

// degree is the B-trees' branching factor: a node holds up to 2*degree-1
// entries. A write clones whole nodes, so small nodes keep the copying per
// write small; large ones keep the trees shallow. Of 8, 16, 32 and 64, 16
// applied a million tasks fastest (test/bench/storecmp and
// BenchmarkStateScale; see BENCHMARKS.md).
const degree = 16

// entry is one entry of a table: the key it sorts by and the object. The key
// sits beside the pointer so that a search compares strings without
// loading the objects, and a lookup builds its probe without allocating.
type entry[T any] struct {
	key string
	obj *T
}

func byKey[T any](a, b entry[T]) bool { return a.key < b.key }

// taskRef is an entry of a secondary index of tasks, by node or by service:
// the key is the task's node or service, and entries of one key sort by
// task id. A taskRef without a task sorts before every task of its key, so
// that it starts a scan of that key.
type taskRef = entry[structs.Task]

func byKeyThenID(a, b taskRef) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	if a.obj == nil || b.obj == nil {
		return a.obj == nil && b.obj != nil
	}
	return a.obj.ID < b.obj.ID
}

// ranked is an entry keyed by a string and a number: task definitions by
// family and revision, rotations by generation (with an empty string).
type ranked[T any] struct {
	key string
	n   int
	obj *T
}

func byKeyThenN[T any](a, b ranked[T]) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return a.n < b.n
}

func newTree[T any](less func(a, b T) bool) *btree.BTreeG[T] {
	// Each tree is written by one goroutine at a time and read views are
	// copies nobody writes, so the trees' own locks would only cost time.
	return btree.NewBTreeGOptions(less, btree.Options{Degree: degree, NoLocks: true})
}

// tables is the whole state. Its methods that read are safe on a copy
// that nobody writes; the methods that write keep every secondary index
// consistent with its table, so that a transaction never sees one without
// the other.
type tables struct {
	nodes    *btree.BTreeG[entry[structs.Node]]
	services *btree.BTreeG[entry[structs.Service]]
	taskDefs *btree.BTreeG[ranked[structs.TaskDefinition]]
	tasks    *btree.BTreeG[entry[structs.Task]]
	// tasksByNode and tasksByService index tasks so that the node loop,
	// the scheduler and the reconcile loop read only their own share of a
	// large state. One-off tasks, which have no service, are indexed
	// under "" so that collecting them reads only them.
	tasksByNode    *btree.BTreeG[taskRef]
	tasksByService *btree.BTreeG[taskRef]
	tokens         *btree.BTreeG[entry[structs.ACLToken]]
	// tokensBySecret finds the token an API request shows, by the hash of
	// its secret.
	tokensBySecret *btree.BTreeG[entry[structs.ACLToken]]
	rotations      *btree.BTreeG[ranked[structs.SecretRotation]]
	secrets        *btree.BTreeG[entry[structs.Secret]]
	schedules      *btree.BTreeG[entry[structs.Schedule]]
	// events is the ring of recent events, oldest first; eventsLostThrough
	// the index of the newest event it has dropped.
	events            *btree.BTreeG[eventEntry]
	eventsLostThrough uint64

	// changed holds, for each service, the log index of the last entry
	// that changed the service or one of its tasks (one-off tasks under
	// ""); nodesChanged is that of the last change to any node. They let
	// the leader pass over services that nothing touched since it last
	// planned them. They are bookkeeping beside the state, not part of
	// it: a snapshot leaves them out and a restore sets every key to the
	// snapshot's index, which at worst makes the leader look once more.
	changed      *btree.BTreeG[change]
	nodesChanged uint64
	// listeners maps every load balancer's listener port to its service
	// (see structs.ListenerPorts), so that each placement looks a port up
	// instead of scanning every service. It is derived from services,
	// made again by the writes of a service with load balancers, and never
	// written once made: tables and their copies share it.
	listeners map[int]string
	// at is the index of the entry that writes these tables; the writes
	// record it in changed.
	at uint64
}

// change is an entry of tables.changed.
type change struct {
	key   string
	index uint64
}

func byChangeKey(a, b change) bool { return a.key < b.key }

func newTables() *tables {
	return &tables{
		nodes:          newTree(byKey[structs.Node]),
		services:       newTree(byKey[structs.Service]),
		taskDefs:       newTree(byKeyThenN[structs.TaskDefinition]),
		tasks:          newTree(byKey[structs.Task]),
		tasksByNode:    newTree(byKeyThenID),
		tasksByService: newTree(byKeyThenID),
		tokens:         newTree(byKey[structs.ACLToken]),
		tokensBySecret: newTree(byKey[structs.ACLToken]),
		rotations:      newTree(byKeyThenN[structs.SecretRotation]),
		changed:        newTree(byChangeKey),
		secrets:        newTree(byKey[structs.Secret]),
		schedules:      newTree(byKey[structs.Schedule]),
		events:         newEventTree(),
	}
}

// copy returns tables that share every node with t, in O(1). Both t and the
// copy clone a node before they first write it, so neither sees the other's
// writes. copy changes t's bookkeeping, so it is called only by the
// goroutine that owns t, never on tables a reader may hold.
func (t *tables) copy() *tables {
	return &tables{
		nodes:          t.nodes.Copy(),
		services:       t.services.Copy(),
		taskDefs:       t.taskDefs.Copy(),
		tasks:          t.tasks.Copy(),
		tasksByNode:    t.tasksByNode.Copy(),
		tasksByService: t.tasksByService.Copy(),
		tokens:         t.tokens.Copy(),
		tokensBySecret: t.tokensBySecret.Copy(),
		rotations:      t.rotations.Copy(),
		changed:        t.changed.Copy(),
		nodesChanged:   t.nodesChanged,
		listeners:      t.listeners,
		at:             t.at,
		secrets:        t.secrets.Copy(),
		schedules:      t.schedules.Copy(),
		events:         t.events.Copy(),

		eventsLostThrough: t.eventsLostThrough,
	}
}

// touch records that the entry being written changes service (or, for
// "", a one-off task). An entry of many tasks of one service writes the
// tree once.
func (t *tables) touch(service string) {
	if c, ok := t.changed.Get(change{key: service}); ok && c.index == t.at {
		return
	}
	t.changed.Set(change{service, t.at})
}

// get returns the object stored under key, or nil.
func get[T any](tr *btree.BTreeG[entry[T]], key string) *T {
	e, _ := tr.Get(entry[T]{key: key})
	return e.obj
}

// all returns every object of a table in key order; nil when there is none.
func all[T any](tr *btree.BTreeG[entry[T]]) []*T {
	if tr.Len() == 0 {
		return nil
	}
	out := make([]*T, 0, tr.Len())
	tr.Scan(func(e entry[T]) bool {
		out = append(out, e.obj)
		return true
	})
	return out
}

// allRanked is all for tables of ranked entries.
func allRanked[T any](tr *btree.BTreeG[ranked[T]]) []*T {
	if tr.Len() == 0 {
		return nil
	}
	out := make([]*T, 0, tr.Len())
	tr.Scan(func(e ranked[T]) bool {
		out = append(out, e.obj)
		return true
	})
	return out
}

// tasksOf returns the tasks a secondary index holds under key, by id.
func tasksOf(tr *btree.BTreeG[taskRef], key string) []*structs.Task {
	var out []*structs.Task
	tr.Ascend(taskRef{key: key}, func(e taskRef) bool {
		if e.key != key {
			return false
		}
		out = append(out, e.obj)
		return true
	})
	return out
}

func (t *tables) node(id string) *structs.Node { return get(t.nodes, id) }

func (t *tables) service(name string) *structs.Service { return get(t.services, name) }

func (t *tables) task(id string) *structs.Task { return get(t.tasks, id) }

func (t *tables) token(accessor string) *structs.ACLToken { return get(t.tokens, accessor) }

func (t *tables) tokenBySecret(hash string) *structs.ACLToken { return get(t.tokensBySecret, hash) }

func (t *tables) taskDef(family string, revision int) *structs.TaskDefinition {
	e, _ := t.taskDefs.Get(ranked[structs.TaskDefinition]{key: family, n: revision})
	return e.obj
}

// latestTaskDef returns the family's highest revision, or nil.
func (t *tables) latestTaskDef(family string) *structs.TaskDefinition {
	var latest *structs.TaskDefinition
	t.taskDefs.Descend(ranked[structs.TaskDefinition]{key: family, n: math.MaxInt}, func(e ranked[structs.TaskDefinition]) bool {
		if e.key == family {
			latest = e.obj
		}
		return false
	})
	return latest
}

// latestRotation returns the rotation of the highest generation, or nil.
func (t *tables) latestRotation() *structs.SecretRotation {
	e, _ := t.rotations.Max()
	return e.obj
}

func (t *tables) putNode(n *structs.Node) {
	t.nodes.Set(entry[structs.Node]{n.ID, n})
	t.nodesChanged = t.at
}

func (t *tables) putService(s *structs.Service) {
	old := t.service(s.Name)
	t.services.Set(entry[structs.Service]{s.Name, s})
	t.touch(s.Name)
	if len(s.LoadBalancers) > 0 || old != nil && len(old.LoadBalancers) > 0 {
		t.listeners = structs.ListenerPorts(all(t.services))
	}
}

func (t *tables) deleteService(name string) {
	old := t.service(name)
	t.services.Delete(entry[structs.Service]{key: name})
	t.touch(name)
	if old != nil && len(old.LoadBalancers) > 0 {
		t.listeners = structs.ListenerPorts(all(t.services))
	}
}

func (t *tables) putTaskDef(td *structs.TaskDefinition) {
	t.taskDefs.Set(ranked[structs.TaskDefinition]{td.Family, td.Revision, td})
}

func (t *tables) putRotation(r *structs.SecretRotation) {
	t.rotations.Set(ranked[structs.SecretRotation]{"", r.Generation, r})
}

// putTask inserts or replaces a task and moves its index entries with it.
// Every index entry points at the newest object, so it is rewritten even
// when the task keeps its node and service.
func (t *tables) putTask(task *structs.Task) {
	if old, replaced := t.tasks.Set(entry[structs.Task]{task.ID, task}); replaced {
		if old.obj.Node != task.Node {
			t.tasksByNode.Delete(taskRef{old.obj.Node, old.obj})
		}
		if old.obj.Service != task.Service {
			t.tasksByService.Delete(taskRef{old.obj.Service, old.obj})
		}
	}
	t.tasksByNode.Set(taskRef{task.Node, task})
	t.tasksByService.Set(taskRef{task.Service, task})
	t.touch(task.Service)
}

// deleteTask removes a task and its index entries.
func (t *tables) deleteTask(id string) {
	old, ok := t.tasks.Delete(entry[structs.Task]{key: id})
	if !ok {
		return
	}
	t.tasksByNode.Delete(taskRef{old.obj.Node, old.obj})
	t.tasksByService.Delete(taskRef{old.obj.Service, old.obj})
	t.touch(old.obj.Service)
	if svc := old.obj.Service; svc != "" && t.service(svc) == nil && len(tasksOf(t.tasksByService, svc)) == 0 {
		// The last task of a deleted service: nothing is left to plan or
		// collect, and names of long-gone services do not pile up.
		t.changed.Delete(change{key: svc})
	}
}

// putToken inserts or replaces a token and moves its secret's index entry
// with it. The caller makes sure no other token holds the same secret.
func (t *tables) putToken(tok *structs.ACLToken) {
	if old, replaced := t.tokens.Set(entry[structs.ACLToken]{tok.AccessorID, tok}); replaced && old.obj.SecretHash != tok.SecretHash {
		t.tokensBySecret.Delete(entry[structs.ACLToken]{key: old.obj.SecretHash})
	}
	t.tokensBySecret.Set(entry[structs.ACLToken]{tok.SecretHash, tok})
}

// deleteToken removes a token and its secret's index entry.
func (t *tables) deleteToken(accessor string) {
	if old, ok := t.tokens.Delete(entry[structs.ACLToken]{key: accessor}); ok {
		t.tokensBySecret.Delete(entry[structs.ACLToken]{key: old.obj.SecretHash})
	}
}

// State is a consistent, read-only view of the cluster state at one log
// index. It is cheap to take and safe to read from any goroutine while the
// FSM goes on applying: its tables are a copy that nothing writes. The
// objects it returns are shared with the store and with other views and
// must not be modified.
type State struct {
	t     *tables
	index uint64
}

// Index is the Raft log index the view reflects.
func (s *State) Index() uint64 { return s.index }

// Nodes returns every node, ordered by id.
func (s *State) Nodes() []*structs.Node { return all(s.t.nodes) }

// Node returns one node or nil.
func (s *State) Node(id string) *structs.Node { return s.t.node(id) }

// Services returns every service, ordered by name.
func (s *State) Services() []*structs.Service { return all(s.t.services) }

// ListenerPorts maps the listener port of every service's load balancers
// to the service (the first by name where several share one), kept as
// services are written. Callers must not change the map.
func (s *State) ListenerPorts() map[int]string { return s.t.listeners }

// Service returns one service or nil.
func (s *State) Service(name string) *structs.Service { return s.t.service(name) }

// TaskDefinitions returns every registered revision, ordered by family and
// revision.
func (s *State) TaskDefinitions() []*structs.TaskDefinition { return allRanked(s.t.taskDefs) }

// TaskDefinition looks up "family:revision"; nil when unknown.
func (s *State) TaskDefinition(ref string) *structs.TaskDefinition {
	family, rev, err := structs.ParseTaskDefRef(ref)
	if err != nil {
		return nil
	}
	return s.t.taskDef(family, rev)
}

// LatestTaskDefinition returns the family's newest revision, or nil.
func (s *State) LatestTaskDefinition(family string) *structs.TaskDefinition {
	return s.t.latestTaskDef(family)
}

// Tasks returns every task, ordered by id.
func (s *State) Tasks() []*structs.Task { return all(s.t.tasks) }

// Task returns one task or nil.
func (s *State) Task(id string) *structs.Task { return s.t.task(id) }

// TasksByNode returns the tasks placed on a node, ordered by id.
func (s *State) TasksByNode(node string) []*structs.Task { return tasksOf(s.t.tasksByNode, node) }

// TasksByService returns a service's tasks, ordered by id. One-off tasks
// belong to no service: TasksByService("") returns none.
func (s *State) TasksByService(service string) []*structs.Task {
	if service == "" {
		return nil
	}
	return tasksOf(s.t.tasksByService, service)
}

// OneOffTasks returns the tasks of no service, ordered by id.
func (s *State) OneOffTasks() []*structs.Task { return tasksOf(s.t.tasksByService, "") }

// ServiceChangedAt is the log index of the last entry that changed the
// service or one of its tasks (for "", a one-off task); 0 when none has
// since this replica started from its snapshot or from nothing. An index
// it returns is never lower than the true one, and may be higher after a
// restore.
func (s *State) ServiceChangedAt(name string) uint64 {
	c, _ := s.t.changed.Get(change{key: name})
	return c.index
}

// ServicesChangedAfter returns the services (and "" for one-off tasks)
// changed by entries after index, deleted ones included, by name.
func (s *State) ServicesChangedAfter(index uint64) []string {
	var out []string
	s.t.changed.Scan(func(c change) bool {
		if c.index > index {
			out = append(out, c.key)
		}
		return true
	})
	return out
}

// NodesChangedAt is the log index of the last entry that changed a node,
// with the same promise as ServiceChangedAt.
func (s *State) NodesChangedAt() uint64 { return s.t.nodesChanged }

// ACLTokens returns every API token, ordered by accessor id.
func (s *State) ACLTokens() []*structs.ACLToken { return all(s.t.tokens) }

// ACLTokenBySecretHash returns the token whose secret hashes to hash, or
// nil.
func (s *State) ACLTokenBySecretHash(hash string) *structs.ACLToken { return s.t.tokenBySecret(hash) }

// Rotations returns every rotation of the cluster secret, oldest first.
func (s *State) Rotations() []*structs.SecretRotation { return allRanked(s.t.rotations) }

// Secrets returns every secret, sealed, ordered by name.
func (s *State) Secrets() []*structs.Secret { return all(s.t.secrets) }

// Secret returns one sealed secret or nil.
func (s *State) Secret(name string) *structs.Secret { return get(s.t.secrets, name) }

// ServicesUsingSecret lists, by name, the services whose task definition
// reads the secret.
func (s *State) ServicesUsingSecret(name string) []string { return s.t.servicesUsingSecret(name) }

func (t *tables) servicesUsingSecret(name string) []string {
	var out []string
	t.services.Scan(func(e entry[structs.Service]) bool {
		family, rev, err := structs.ParseTaskDefRef(e.obj.TaskDefinition)
		if err != nil {
			return true
		}
		if td := t.taskDef(family, rev); td != nil && slices.Contains(td.SecretsUsed(), name) {
			out = append(out, e.key)
		}
		return true
	})
	return out
}

func (t *tables) putSecret(s *structs.Secret) { t.secrets.Set(entry[structs.Secret]{s.Name, s}) }

func (t *tables) deleteSecret(name string) { t.secrets.Delete(entry[structs.Secret]{key: name}) }

// Schedules returns every schedule, ordered by name.
func (s *State) Schedules() []*structs.Schedule { return all(s.t.schedules) }

// Schedule returns one schedule or nil.
func (s *State) Schedule(name string) *structs.Schedule { return get(s.t.schedules, name) }

func (t *tables) schedule(name string) *structs.Schedule { return get(t.schedules, name) }

func (t *tables) putSchedule(s *structs.Schedule) {
	t.schedules.Set(entry[structs.Schedule]{s.Name, s})
}

func (t *tables) deleteSchedule(name string) {
	t.schedules.Delete(entry[structs.Schedule]{key: name})
}
