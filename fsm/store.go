package fsm

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/skiff-run/skiff/structs"
)

const (
	tableNodes     = "nodes"
	tableTaskDefs  = "taskdefs"
	tableServices  = "services"
	tableTasks     = "tasks"
	tableTokens    = "acltokens"
	tableRotations = "rotations"
)

// schema indexes tasks by node and by service so that the node loop and the
// reconcile loop read only their own share of a large state.
func schema() *memdb.DBSchema {
	id := func(field string) *memdb.IndexSchema {
		return &memdb.IndexSchema{Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: field}}
	}
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableNodes: {Name: tableNodes, Indexes: map[string]*memdb.IndexSchema{"id": id("ID")}},
		tableTaskDefs: {Name: tableTaskDefs, Indexes: map[string]*memdb.IndexSchema{
			"id":     {Name: "id", Unique: true, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{&memdb.StringFieldIndex{Field: "Family"}, &memdb.IntFieldIndex{Field: "Revision"}}}},
			"family": {Name: "family", Indexer: &memdb.StringFieldIndex{Field: "Family"}},
		}},
		tableServices: {Name: tableServices, Indexes: map[string]*memdb.IndexSchema{"id": id("Name")}},
		tableTokens: {Name: tableTokens, Indexes: map[string]*memdb.IndexSchema{
			"id":     id("AccessorID"),
			"secret": {Name: "secret", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "SecretHash"}},
		}},
		tableRotations: {Name: tableRotations, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.IntFieldIndex{Field: "Generation"}},
		}},
		tableTasks: {Name: tableTasks, Indexes: map[string]*memdb.IndexSchema{
			"id":      id("ID"),
			"node":    {Name: "node", Indexer: &memdb.StringFieldIndex{Field: "Node"}},
			"service": {Name: "service", AllowMissing: true, Indexer: &memdb.StringFieldIndex{Field: "Service"}},
		}},
	}}
}

func newDB() *memdb.MemDB {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		// The schema is a constant; an error here is a programming mistake.
		panic(fmt.Sprintf("fsm: bad schema: %v", err))
	}
	return db
}

// State is a consistent, read-only view of the cluster state at one log
// index. It is cheap to take and safe to read from any goroutine while the
// FSM goes on applying. The objects it returns are shared with the store and
// must not be modified.
type State struct {
	txn   *memdb.Txn
	index uint64
}

// Index is the Raft log index the view reflects.
func (s *State) Index() uint64 { return s.index }

func collect[T any](it memdb.ResultIterator, err error) []*T {
	if err != nil {
		panic(fmt.Sprintf("fsm: read: %v", err))
	}
	var out []*T
	for obj := it.Next(); obj != nil; obj = it.Next() {
		out = append(out, obj.(*T))
	}
	return out
}

func first[T any](obj any, err error) *T {
	if err != nil {
		panic(fmt.Sprintf("fsm: read: %v", err))
	}
	if obj == nil {
		return nil
	}
	return obj.(*T)
}

// Nodes returns every node, ordered by id.
func (s *State) Nodes() []*structs.Node { return collect[structs.Node](s.txn.Get(tableNodes, "id")) }

// Node returns one node or nil.
func (s *State) Node(id string) *structs.Node {
	return first[structs.Node](s.txn.First(tableNodes, "id", id))
}

// Services returns every service, ordered by name.
func (s *State) Services() []*structs.Service {
	return collect[structs.Service](s.txn.Get(tableServices, "id"))
}

// Service returns one service or nil.
func (s *State) Service(name string) *structs.Service {
	return first[structs.Service](s.txn.First(tableServices, "id", name))
}

// TaskDefinitions returns every registered revision, ordered by family and
// revision.
func (s *State) TaskDefinitions() []*structs.TaskDefinition {
	return collect[structs.TaskDefinition](s.txn.Get(tableTaskDefs, "id"))
}

// TaskDefinition looks up "family:revision"; nil when unknown.
func (s *State) TaskDefinition(ref string) *structs.TaskDefinition {
	family, rev, err := structs.ParseTaskDefRef(ref)
	if err != nil {
		return nil
	}
	return first[structs.TaskDefinition](s.txn.First(tableTaskDefs, "id", family, rev))
}

// LatestTaskDefinition returns the family's newest revision, or nil.
func (s *State) LatestTaskDefinition(family string) *structs.TaskDefinition {
	var latest *structs.TaskDefinition
	for _, td := range collect[structs.TaskDefinition](s.txn.Get(tableTaskDefs, "family", family)) {
		if latest == nil || td.Revision > latest.Revision {
			latest = td
		}
	}
	return latest
}

// Tasks returns every task, ordered by id.
func (s *State) Tasks() []*structs.Task { return collect[structs.Task](s.txn.Get(tableTasks, "id")) }

// Task returns one task or nil.
func (s *State) Task(id string) *structs.Task {
	return first[structs.Task](s.txn.First(tableTasks, "id", id))
}

// TasksByNode returns the tasks placed on a node, ordered by id.
func (s *State) TasksByNode(node string) []*structs.Task {
	return collect[structs.Task](s.txn.Get(tableTasks, "node", node))
}

// TasksByService returns a service's tasks, ordered by id.
func (s *State) TasksByService(service string) []*structs.Task {
	return collect[structs.Task](s.txn.Get(tableTasks, "service", service))
}

// ACLTokens returns every API token, ordered by accessor id.
func (s *State) ACLTokens() []*structs.ACLToken {
	return collect[structs.ACLToken](s.txn.Get(tableTokens, "id"))
}

// ACLTokenBySecretHash returns the token whose secret hashes to hash, or
// nil.
func (s *State) ACLTokenBySecretHash(hash string) *structs.ACLToken {
	return first[structs.ACLToken](s.txn.First(tableTokens, "secret", hash))
}

// Rotations returns every rotation of the cluster secret, oldest first.
func (s *State) Rotations() []*structs.SecretRotation {
	return collect[structs.SecretRotation](s.txn.Get(tableRotations, "id"))
}
