package fsm

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// checkIndexes fails the test unless every secondary index holds exactly
// the entries its table implies, each pointing at the table's object.
func checkIndexes(t testing.TB, tb *tables) {
	t.Helper()
	byNode, byService := map[string]int{}, map[string]int{}
	tb.tasks.Scan(func(e entry[structs.Task]) bool {
		if e.key != e.obj.ID {
			t.Fatalf("task %s stored under %s", e.obj.ID, e.key)
		}
		if got, ok := tb.tasksByNode.Get(taskRef{e.obj.Node, e.obj}); !ok || got.obj != e.obj {
			t.Fatalf("task %s: node index holds %+v, want the task's object", e.key, got.obj)
		}
		byNode[e.obj.Node]++
		if got, ok := tb.tasksByService.Get(taskRef{e.obj.Service, e.obj}); !ok || got.obj != e.obj {
			t.Fatalf("task %s: service index holds %+v, want the task's object", e.key, got.obj)
		}
		byService[e.obj.Service]++
		return true
	})
	for name, idx := range map[string]struct {
		tree   func(func(taskRef) bool)
		counts map[string]int
	}{"node": {tb.tasksByNode.Scan, byNode}, "service": {tb.tasksByService.Scan, byService}} {
		n := 0
		idx.tree(func(e taskRef) bool {
			n++
			if e.obj != tb.task(e.obj.ID) {
				t.Fatalf("%s index holds task %s under %s, which the table does not", name, e.obj.ID, e.key)
			}
			return true
		})
		want := 0
		for _, c := range idx.counts {
			want += c
		}
		if n != want {
			t.Fatalf("%s index has %d entries, want %d", name, n, want)
		}
	}
	secrets := 0
	tb.tokens.Scan(func(e entry[structs.ACLToken]) bool {
		if tb.tokenBySecret(e.obj.SecretHash) != e.obj {
			t.Fatalf("token %s is not found by its secret", e.key)
		}
		secrets++
		return true
	})
	if secrets != tb.tokensBySecret.Len() {
		t.Fatalf("%d tokens, %d secrets indexed", secrets, tb.tokensBySecret.Len())
	}
}

func ids(ts []*structs.Task) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

// TestStoreIndexesFollowTasks moves tasks between nodes and services,
// deletes them, and puts them back, in random order, and checks after
// every write that the indexes agree with a plain model of the tasks and
// list them in id order.
func TestStoreIndexesFollowTasks(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 7))
	tb := newTables()
	model := map[string]structs.Task{}
	for i := 0; i < 3000; i++ {
		id := fmt.Sprintf("t%03d", rnd.IntN(300))
		if rnd.IntN(4) == 0 {
			tb.deleteTask(id)
			delete(model, id)
		} else {
			task := structs.Task{ID: id, Node: fmt.Sprintf("n%d", rnd.IntN(5)), Service: []string{"", "web", "db"}[rnd.IntN(3)], CPU: int64(i)}
			tb.putTask(&task)
			model[id] = task
		}
		if i%100 != 0 {
			continue
		}
		checkIndexes(t, tb)
		st := &State{t: tb}
		for _, key := range []string{"n0", "n1", "n2", "n3", "n4", "web", "db", ""} {
			var wantNode, wantService []string
			for id, m := range model {
				if m.Node == key {
					wantNode = append(wantNode, id)
				}
				if m.Service == key && key != "" {
					wantService = append(wantService, id)
				}
			}
			slices.Sort(wantNode)
			slices.Sort(wantService)
			if got := ids(st.TasksByNode(key)); !slices.Equal(got, wantNode) {
				t.Fatalf("step %d: tasks on %q: %v, want %v", i, key, got, wantNode)
			}
			if got := ids(st.TasksByService(key)); !slices.Equal(got, wantService) {
				t.Fatalf("step %d: tasks of %q: %v, want %v", i, key, got, wantService)
			}
			if key == "" {
				var oneOff []string
				for id, m := range model {
					if m.Service == "" {
						oneOff = append(oneOff, id)
					}
				}
				slices.Sort(oneOff)
				if got := ids(st.OneOffTasks()); !slices.Equal(got, oneOff) {
					t.Fatalf("step %d: one-off tasks: %v, want %v", i, got, oneOff)
				}
			}
		}
		for _, task := range st.TasksByNode("n0") {
			if task.CPU != model[task.ID].CPU {
				t.Fatalf("step %d: node index holds an old copy of %s", i, task.ID)
			}
		}
		if got := len(st.Tasks()); got != len(model) {
			t.Fatalf("step %d: %d tasks, want %d", i, got, len(model))
		}
	}
}

// TestStoreIterationOrder inserts in random order and reads back in key
// order, revisions and generations by number rather than as text.
func TestStoreIterationOrder(t *testing.T) {
	f := New(nil)
	idx := uint64(0)
	next := func() uint64 { idx++; return idx }
	for _, id := range []string{"n3", "n1", "n2"} {
		mustApply(t, f, next(), CmdRegisterNode, RegisterNode{Node: structs.Node{ID: id}})
	}
	for _, fam := range []string{"web", "api"} {
		for image := range 11 {
			td := webDef(fmt.Sprintf("img:%d", image))
			td.Family = fam
			mustApply(t, f, next(), CmdRegisterTaskDefinition, RegisterTaskDefinition{TaskDefinition: *td})
		}
	}
	for _, name := range []string{"web", "db", "api"} {
		mustApply(t, f, next(), CmdApplyService, ApplyService{Service: structs.Service{Name: name}, TaskDefinition: webDef("img:10")})
	}
	mustApply(t, f, next(), CmdCommitPlan, CommitPlan{Place: []structs.Task{{ID: "c", Node: "n1"}, {ID: "a", Node: "n2"}, {ID: "b", Node: "n1"}}})
	for _, a := range []string{"z", "x", "y"} {
		mustApply(t, f, next(), CmdUpsertACLToken, UpsertACLToken{Token: structs.ACLToken{AccessorID: a, Policy: structs.PolicyReadOnly, SecretHash: strings.Repeat(fmt.Sprintf("%x", a[0]), 32)}})
	}
	st := f.State()
	var nodes, services, defs, tokens []string
	for _, n := range st.Nodes() {
		nodes = append(nodes, n.ID)
	}
	for _, s := range st.Services() {
		services = append(services, s.Name)
	}
	for _, td := range st.TaskDefinitions() {
		defs = append(defs, td.Ref())
	}
	for _, tok := range st.ACLTokens() {
		tokens = append(tokens, tok.AccessorID)
	}
	var wantDefs []string
	for _, fam := range []string{"api", "web"} {
		for r := 1; r <= 11; r++ {
			wantDefs = append(wantDefs, fmt.Sprintf("%s:%d", fam, r))
		}
	}
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"nodes", nodes, []string{"n1", "n2", "n3"}},
		{"services", services, []string{"api", "db", "web"}},
		{"task definitions", defs, wantDefs},
		{"tasks", ids(st.Tasks()), []string{"a", "b", "c"}},
		{"tasks on n1", ids(st.TasksByNode("n1")), []string{"b", "c"}},
		{"tokens", tokens, []string{"x", "y", "z"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	if l := st.LatestTaskDefinition("api"); l == nil || l.Revision != 11 {
		t.Fatalf("latest api: %+v", l)
	}
	if st.LatestTaskDefinition("ap") != nil || st.LatestTaskDefinition("zzz") != nil {
		t.Fatal("a family without revisions has a latest one")
	}
}

// TestViewUnchangedByLaterWrites holds a view while later entries change,
// add and delete what it shows, and checks that it still reads as it did.
func TestViewUnchangedByLaterWrites(t *testing.T) {
	f := New(nil)
	mustApply(t, f, 1, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1"}})
	mustApply(t, f, 2, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1}, TaskDefinition: webDef("a:1")})
	var place []structs.Task
	for i := range 500 {
		place = append(place, structs.Task{ID: fmt.Sprintf("t%04d", i), Node: "n1", Service: "web", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending})
	}
	mustApply(t, f, 3, CmdCommitPlan, CommitPlan{Place: place})
	view := f.State()
	before := stateJSON(t, view)
	mustApply(t, f, 4, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t0001", Node: "n1", LastStatus: structs.StatusStopped}}})
	mustApply(t, f, 5, CmdDeleteTasks, DeleteTasks{IDs: []string{"t0001"}})
	mustApply(t, f, 6, CmdCommitPlan, CommitPlan{Place: []structs.Task{{ID: "t9999", Node: "n2", Service: "db"}}})
	mustApply(t, f, 7, CmdSetNodeStatus, SetNodeStatus{ID: "n1", Status: structs.NodeDown})
	mustApply(t, f, 8, CmdDeleteService, DeleteService{Name: "web"})
	if got := stateJSON(t, view); got != before {
		t.Fatal("a view changed after later writes")
	}
	if view.Index() != 3 || len(view.TasksByNode("n1")) != 500 || view.Task("t9999") != nil || view.Service("web") == nil {
		t.Fatal("a view's lookups changed after later writes")
	}
	now := f.State()
	if now.Task("t0001") != nil || now.Task("t0002").LastStatus != structs.StatusLost || len(now.TasksByNode("n2")) != 1 {
		t.Fatal("the later writes are missing from a new view")
	}
	checkIndexes(t, f.live)
}

// TestRefusedEntryLeavesNothing applies entries that write and then fail
// part way: none of their writes may remain, in the tables or the indexes.
func TestRefusedEntryLeavesNothing(t *testing.T) {
	f := New(nil)
	hash := func(c string) string { return strings.Repeat(c, 64) }
	mustApply(t, f, 1, CmdUpsertACLToken, UpsertACLToken{Token: structs.ACLToken{AccessorID: "other", Policy: structs.PolicyReadOnly, SecretHash: hash("a")}})
	mustApply(t, f, 2, CmdRotateSecret, RotateSecret{Rotation: structs.SecretRotation{Generation: 1, PrevDigest: hash("1"), Digest: hash("2"), Sealed: []byte{1}},
		Bootstrap: structs.ACLToken{AccessorID: "bootstrap", Policy: structs.PolicyManagement, SecretHash: hash("b")}})
	mustApply(t, f, 3, CmdCommitPlan, CommitPlan{Place: []structs.Task{{ID: "t1", Node: "n1", Service: "web"}}})
	before := stateJSON(t, f.State())
	// The second placement is refused after the first was written.
	if _, ok := apply(t, f, 4, CmdCommitPlan, CommitPlan{Place: []structs.Task{{ID: "t2", Node: "n1", Service: "web"}, {ID: "", Node: "n1"}}}).(error); !ok {
		t.Fatal("a placement without an id was accepted")
	}
	// The rotation deletes the bootstrap token before it finds the new
	// one's secret taken.
	if _, ok := apply(t, f, 5, CmdRotateSecret, RotateSecret{Rotation: structs.SecretRotation{Generation: 2, PrevDigest: hash("2"), Digest: hash("3"), Sealed: []byte{1}},
		Bootstrap: structs.ACLToken{AccessorID: "bootstrap", Policy: structs.PolicyManagement, SecretHash: hash("a")}}).(error); !ok {
		t.Fatal("a rotation to a secret in use was accepted")
	}
	st := f.State()
	if got := stateJSON(t, st); got != before {
		t.Fatalf("refused entries changed the state:\n%s\n%s", before, got)
	}
	if st.Index() != 5 {
		t.Fatalf("index %d, want 5", st.Index())
	}
	// The next accepted entry builds on the state as it was, not on what
	// the refused ones wrote.
	mustApply(t, f, 6, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n9"}})
	st = f.State()
	if st.Task("t2") != nil || len(st.TasksByNode("n1")) != 1 || len(st.TasksByService("web")) != 1 {
		t.Fatal("a refused placement left a task or an index entry")
	}
	if tok := st.ACLTokenBySecretHash(hash("b")); tok == nil || tok.AccessorID != "bootstrap" {
		t.Fatalf("a refused rotation dropped the bootstrap token: %+v", tok)
	}
	checkIndexes(t, f.live)
}

// TestTokenSecretIndexFollowsUpdates replaces a token's secret and deletes
// tokens; the old secret must find nothing.
func TestTokenSecretIndexFollowsUpdates(t *testing.T) {
	f := New(nil)
	hash := func(c string) string { return strings.Repeat(c, 64) }
	tok := structs.ACLToken{AccessorID: "a", Policy: structs.PolicyReadOnly, SecretHash: hash("1")}
	mustApply(t, f, 1, CmdUpsertACLToken, UpsertACLToken{Token: tok})
	tok.SecretHash = hash("2")
	mustApply(t, f, 2, CmdUpsertACLToken, UpsertACLToken{Token: tok})
	st := f.State()
	if st.ACLTokenBySecretHash(hash("1")) != nil || st.ACLTokenBySecretHash(hash("2")) == nil {
		t.Fatal("the secret index kept the replaced secret")
	}
	mustApply(t, f, 3, CmdDeleteACLToken, DeleteACLToken{AccessorID: "a"})
	if f.State().ACLTokenBySecretHash(hash("2")) != nil {
		t.Fatal("the secret index kept a deleted token")
	}
	checkIndexes(t, f.live)
}

// TestViewsReadWhileApplying reads views from several goroutines while
// entries apply; run with -race it shows that views share nothing a
// writer changes.
func TestViewsReadWhileApplying(t *testing.T) {
	f := New(nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				st := f.State()
				n := len(st.Tasks())
				if len(st.TasksByNode("n1"))+len(st.TasksByNode("n2")) != n {
					t.Error("a view's node index disagrees with its tasks")
					return
				}
				_ = st.Task("t0001")
			}
		})
	}
	idx := uint64(0)
	next := func() uint64 { idx++; return idx }
	for i := range 200 {
		var place []structs.Task
		for j := range 20 {
			place = append(place, structs.Task{ID: fmt.Sprintf("t%04d", (i*20+j)%1000), Node: []string{"n1", "n2"}[j%2], Service: "web"})
		}
		mustApply(t, f, next(), CmdCommitPlan, CommitPlan{Place: place})
		var ups []TaskStatusUpdate
		for _, p := range place {
			ups = append(ups, TaskStatusUpdate{ID: p.ID, Node: p.Node, LastStatus: structs.StatusStopped})
		}
		mustApply(t, f, next(), CmdUpdateTaskStatus, UpdateTaskStatus{Updates: ups})
		if i%3 == 0 {
			mustApply(t, f, next(), CmdDeleteTasks, DeleteTasks{IDs: ids(f.State().TasksByNode("n1"))})
		}
	}
	close(stop)
	wg.Wait()
	checkIndexes(t, f.live)
}

// goldenSnapshot is the snapshot the go-memdb store wrote for the state
// goldenState builds.
const goldenSnapshot = `{"index":6,"nodes":[{"id":"n1","name":"one","address":"","apiAddress":"","cpu":1024,"memory":1024,"attributes":{"zone":"a"},"status":"ready","eligibility":"eligible","portMin":20000,"portMax":20010,"updatedAt":1}],"taskDefinitions":[{"family":"web","revision":1,"containerDefinitions":[{"name":"app","image":"a:1","cpu":64,"memory":32}]}],"services":[{"name":"web","taskDefinition":"web:1","desiredCount":2,"restartPolicy":{},"createdAt":2,"updatedAt":2}],"tasks":[{"id":"t1","service":"web","taskDefinition":"web:1","node":"n1","desiredStatus":"RUNNING","lastStatus":"RUNNING","cpu":64,"memory":32,"containers":[{"name":"app","status":"running"}],"createdAt":3,"startedAt":4},{"id":"t2","service":"web","taskDefinition":"web:1","node":"n1","desiredStatus":"RUNNING","lastStatus":"PENDING","cpu":64,"memory":32,"hostPorts":[20000],"createdAt":3},{"id":"t3","service":"","taskDefinition":"web:1","node":"n1","desiredStatus":"RUNNING","lastStatus":"PENDING","cpu":0,"memory":0,"createdAt":3}],"aclTokens":[{"accessorId":"bootstrap","policy":"management","secretHash":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","createdAt":0},{"accessorId":"reader","policy":"read-only","secretHash":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","createdAt":0}],"rotations":[{"generation":1,"prevDigest":"1111111111111111111111111111111111111111111111111111111111111111","digest":"2222222222222222222222222222222222222222222222222222222222222222","sealed":"AQ==","at":0}]}`

func goldenState(t *testing.T) *FSM {
	f := New(nil)
	hash := func(c string) string { return strings.Repeat(c, 64) }
	mustApply(t, f, 1, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1", Name: "one", CPU: 1024, MemoryMiB: 1024, Attributes: map[string]string{"zone": "a"}, PortMin: 20000, PortMax: 20010}, At: 1})
	mustApply(t, f, 2, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 2}, TaskDefinition: webDef("a:1"), At: 2})
	mustApply(t, f, 3, CmdCommitPlan, CommitPlan{At: 3, Place: []structs.Task{
		{ID: "t2", Service: "web", TaskDefinition: "web:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending, CPU: 64, MemoryMiB: 32, HostPorts: []int{20000}},
		{ID: "t1", Service: "web", TaskDefinition: "web:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending, CPU: 64, MemoryMiB: 32},
		{ID: "t3", TaskDefinition: "web:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}}})
	mustApply(t, f, 4, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t1", Node: "n1", LastStatus: structs.StatusRunning, At: 4, Containers: []structs.ContainerState{{Name: "app", Status: "running"}}}}})
	mustApply(t, f, 5, CmdUpsertACLToken, UpsertACLToken{Token: structs.ACLToken{AccessorID: "reader", Policy: structs.PolicyReadOnly, SecretHash: hash("a")}})
	mustApply(t, f, 6, CmdRotateSecret, RotateSecret{Rotation: structs.SecretRotation{Generation: 1, PrevDigest: hash("1"), Digest: hash("2"), Sealed: []byte{1}},
		Bootstrap: structs.ACLToken{AccessorID: "bootstrap", Policy: structs.PolicyManagement, SecretHash: hash("b")}})
	return f
}

func persist(t *testing.T, f *FSM) string {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s sink
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(s.String(), "\n")
}

// TestSnapshotFormatUnchanged checks that the same entries give, byte for
// byte, the snapshot the go-memdb store wrote, followed by the events that
// came later, and that such a snapshot restores to the same state with its
// indexes.
func TestSnapshotFormatUnchanged(t *testing.T) {
	got := persist(t, goldenState(t))
	tables, events, ok := strings.Cut(got, `,"events":[`)
	if !ok || tables+"}" != goldenSnapshot {
		t.Fatalf("snapshot differs from the old store's:\n%s\n%s", got, goldenSnapshot)
	}
	if n := strings.Count(events, `"kind":`); n != 6 {
		t.Errorf("snapshot holds %d events, want the 6 its entries made: %s", n, events)
	}
	f := New(nil)
	if err := f.Restore(io.NopCloser(strings.NewReader(goldenSnapshot))); err != nil {
		t.Fatal(err)
	}
	st := f.State()
	if st.Index() != 6 || len(st.TasksByNode("n1")) != 3 || len(st.TasksByService("web")) != 2 || st.LatestTaskDefinition("web") == nil ||
		st.ACLTokenBySecretHash(strings.Repeat("b", 64)).AccessorID != "bootstrap" || len(st.Rotations()) != 1 {
		t.Fatalf("restored state: %s", stateJSON(t, st))
	}
	checkIndexes(t, f.live)
	if got := persist(t, f); got != goldenSnapshot {
		t.Fatalf("restored snapshot persists differently:\n%s", got)
	}
}

// TestChangeIndexes checks that each entry records the index at which it
// changed a service, its tasks or a node, that a refused entry records
// nothing, that a restore counts everything as changed at the snapshot's
// index, and that a deleted service's record goes with its last task.
func TestChangeIndexes(t *testing.T) {
	f := New(nil)
	td := &structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img"}}}
	mustApply(t, f, 1, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1"}})
	mustApply(t, f, 2, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1}, TaskDefinition: td})
	mustApply(t, f, 3, CmdApplyService, ApplyService{Service: structs.Service{Name: "db", DesiredCount: 1}, TaskDefinition: td})
	mustApply(t, f, 4, CmdCommitPlan, CommitPlan{Place: []structs.Task{{ID: "t1", Service: "web", Node: "n1"}, {ID: "t2", Node: "n1"}}})
	want := func(svc string, index uint64) {
		t.Helper()
		if got := f.State().ServiceChangedAt(svc); got != index {
			t.Fatalf("%q changed at %d, want %d", svc, got, index)
		}
	}
	want("web", 4)
	want("db", 3)
	want("", 4)
	if got := f.State().NodesChangedAt(); got != 1 {
		t.Fatalf("nodes changed at %d, want 1", got)
	}
	if got := f.State().ServicesChangedAfter(3); !slices.Equal(got, []string{"", "web"}) {
		t.Fatalf("changed after 3: %v", got)
	}
	if err, ok := apply(t, f, 5, CmdScaleService, ScaleService{Name: "db", DesiredCount: -1}).(error); !ok {
		t.Fatalf("a negative count was accepted: %v", err)
	}
	want("db", 3)
	mustApply(t, f, 6, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t1", Node: "n1", LastStatus: structs.StatusRunning}}})
	want("web", 6)
	want("", 4)
	mustApply(t, f, 7, CmdSetNodeStatus, SetNodeStatus{ID: "n1", Eligibility: structs.EligibilityIneligible})
	if got := f.State().NodesChangedAt(); got != 7 {
		t.Fatalf("nodes changed at %d, want 7", got)
	}
	want("web", 6)

	var s sink
	snap, _ := f.Snapshot()
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	g := New(nil)
	if err := g.Restore(io.NopCloser(&s)); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"web", "db", ""} {
		if got := g.State().ServiceChangedAt(svc); got != 7 {
			t.Fatalf("restored: %q changed at %d, want the snapshot's 7", svc, got)
		}
	}

	mustApply(t, f, 8, CmdDeleteService, DeleteService{Name: "web"})
	want("web", 8)
	mustApply(t, f, 9, CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t1", Node: "n1", LastStatus: structs.StatusStopped}}})
	mustApply(t, f, 10, CmdDeleteTasks, DeleteTasks{IDs: []string{"t1"}})
	want("web", 0)
	if got := f.State().ServicesChangedAfter(0); !slices.Equal(got, []string{"", "db"}) {
		t.Fatalf("after the deleted service's last task: %v", got)
	}
}
