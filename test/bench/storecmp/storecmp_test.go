// Package storecmp compares the two copy-on-write structures that were
// candidates for the FSM's state store, on the store's heaviest work: task
// placements and status reports in entries of fsm.MaxTasksPerEntry, each
// entry one transaction that writes a task into its table and its node and
// service indexes, followed by a read view that later entries must not
// change. It is a module of its own so that the candidate not chosen stays
// out of skiff's dependencies:
//
//	cd test/bench/storecmp && go test -run '^$' -bench . -benchtime 1x
//
// SKIFF_BENCH_C1M=1 adds the 1,000,000-task case.
package storecmp

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"

	iradix "github.com/hashicorp/go-immutable-radix/v2"
	"github.com/tidwall/btree"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/structs"
)

// candidate is a store of tasks indexed by id, node and service.
type candidate interface {
	// apply writes every task in one transaction and publishes a read view.
	apply(tasks []*structs.Task)
	// count is how many tasks the newest view holds.
	count() int
}

type entry struct {
	key string
	obj *structs.Task
}

func byKey(a, b entry) bool { return a.key < b.key }

func byKeyThenID(a, b entry) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return a.obj.ID < b.obj.ID
}

// bt is the B-tree store as fsm keeps it: three trees, a transaction is a
// copy of the live ones, and the view another copy.
type bt struct{ live, view [3]*btree.BTreeG[entry] }

func newBT(degree int) *bt {
	s := &bt{}
	opts := btree.Options{Degree: degree, NoLocks: true}
	s.live = [3]*btree.BTreeG[entry]{btree.NewBTreeGOptions(byKey, opts), btree.NewBTreeGOptions(byKeyThenID, opts), btree.NewBTreeGOptions(byKeyThenID, opts)}
	return s
}

func (s *bt) apply(tasks []*structs.Task) {
	var txn [3]*btree.BTreeG[entry]
	for i, tr := range s.live {
		txn[i] = tr.Copy()
	}
	for _, t := range tasks {
		if old, ok := txn[0].Set(entry{t.ID, t}); ok {
			if old.obj.Node != t.Node {
				txn[1].Delete(entry{old.obj.Node, old.obj})
			}
			if old.obj.Service != t.Service {
				txn[2].Delete(entry{old.obj.Service, old.obj})
			}
		}
		txn[1].Set(entry{t.Node, t})
		txn[2].Set(entry{t.Service, t})
	}
	s.live = txn
	for i, tr := range txn {
		s.view[i] = tr.Copy()
	}
}

func (s *bt) count() int { return s.view[0].Len() }

// rdx is go-immutable-radix: three trees keyed by id, node+id and
// service+id; a committed tree is itself an immutable view.
type rdx struct {
	trees [3]*iradix.Tree[*structs.Task]
}

func newRdx() *rdx {
	return &rdx{trees: [3]*iradix.Tree[*structs.Task]{iradix.New[*structs.Task](), iradix.New[*structs.Task](), iradix.New[*structs.Task]()}}
}

func (s *rdx) apply(tasks []*structs.Task) {
	var txn [3]*iradix.Txn[*structs.Task]
	for i, tr := range s.trees {
		txn[i] = tr.Txn()
		txn[i].TrackMutate(false)
	}
	for _, t := range tasks {
		if old, ok := txn[0].Insert([]byte(t.ID), t); ok {
			if old.Node != t.Node {
				txn[1].Delete([]byte(old.Node + "\x00" + old.ID))
			}
			if old.Service != t.Service {
				txn[2].Delete([]byte(old.Service + "\x00" + old.ID))
			}
		}
		txn[1].Insert([]byte(t.Node+"\x00"+t.ID), t)
		txn[2].Insert([]byte(t.Service+"\x00"+t.ID), t)
	}
	for i := range txn {
		s.trees[i] = txn[i].Commit()
	}
}

func (s *rdx) count() int { return s.trees[0].Len() }

func BenchmarkStore(b *testing.B) {
	sizes := []int{100_000}
	if os.Getenv("SKIFF_BENCH_C1M") == "1" {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		for _, c := range []struct {
			name string
			make func() candidate
		}{
			{"btree-degree8", func() candidate { return newBT(8) }},
			{"btree-degree16", func() candidate { return newBT(16) }},
			{"btree-degree32", func() candidate { return newBT(32) }},
			{"btree-degree64", func() candidate { return newBT(64) }},
			{"iradix", func() candidate { return newRdx() }},
		} {
			b.Run(fmt.Sprintf("tasks=%d/%s", n, c.name), func(b *testing.B) {
				for range b.N {
					run(b, n, c.make)
				}
			})
		}
	}
}

// run places n tasks and reports each RUNNING, fsm.MaxTasksPerEntry per
// transaction, as the control plane's entries do.
func run(b *testing.B, n int, newStore func() candidate) {
	b.StopTimer()
	rnd := rand.New(rand.NewPCG(1, 2))
	placed := make([]*structs.Task, n)
	running := make([]*structs.Task, n)
	for j := range n {
		t := &structs.Task{ID: fmt.Sprintf("%08x-1f3e-4b6a-9c2d-%012x", rnd.Uint32(), j), Service: fmt.Sprintf("svc-%d", j/10_000),
			TaskDefinition: "web:1", Node: fmt.Sprintf("node-%d", j/200%5000), DesiredStatus: structs.StatusRunning,
			LastStatus: structs.StatusPending, CPU: 1, MemoryMiB: 16}
		placed[j] = t
		r := *t
		r.LastStatus = structs.StatusRunning
		running[j] = &r
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := newStore()
	b.StartTimer()
	start := time.Now()
	for i := 0; i < n; i += fsm.MaxTasksPerEntry {
		end := min(n, i+fsm.MaxTasksPerEntry)
		s.apply(placed[i:end])
		s.apply(running[i:end])
	}
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if s.count() != n {
		b.Fatalf("%d tasks, want %d", s.count(), n)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "tasks/s")
	// The tasks themselves are left out, as both stores would hold the
	// same ones.
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(n), "index-heap-bytes/task")
	runtime.KeepAlive(placed)
	runtime.KeepAlive(running)
	runtime.KeepAlive(s)
	b.StartTimer()
}
