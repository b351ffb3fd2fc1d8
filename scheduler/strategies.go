package scheduler

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"

	"github.com/skiff-run/skiff/structs"
)

// strategy scores a feasible node; lower is better.
type strategy interface {
	score(p *planner, ns *nodeState, ordinal int) int64
}

// binpack prefers the node with the least of a resource left (memory, or
// cpu), so that whole nodes stay free for large tasks.
type binpack struct{ cpu bool }

func (b binpack) key(ns *nodeState) int64 {
	if b.cpu {
		return ns.cpuFree
	}
	return ns.memFree
}

// floor is the least key a node that can take the task has: the amount of
// the resource one task takes.
func (b binpack) floor(n need) int64 {
	if b.cpu {
		return n.cpu
	}
	return n.mem
}

func (b binpack) score(_ *planner, ns *nodeState, _ int) int64 { return b.key(ns) }

// spreadNode prefers the node with the fewest tasks of the service.
type spreadNode struct{}

func (spreadNode) score(_ *planner, ns *nodeState, _ int) int64 { return int64(ns.svcTasks) }

func (spreadNode) key(ns *nodeState) int64 { return int64(ns.svcTasks) }

// floor is the least key of a node that can take the task: any.
func (spreadNode) floor(need) int64 { return math.MinInt64 }

// spreadAttribute prefers nodes whose attribute value has the fewest tasks
// of the service.
type spreadAttribute struct{ key string }

func (spreadAttribute) score(p *planner, ns *nodeState, _ int) int64 {
	return int64(p.groupCounts[ns.attrGroup])
}

// random orders nodes by a hash of the seed, the task's ordinal and the
// node id: uniform enough, and the same inputs give the same plan.
type random struct{ seed uint64 }

func (r random) score(_ *planner, ns *nodeState, ordinal int) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%s", r.seed, ordinal, ns.node.ID)
	return int64(h.Sum64() >> 1)
}

func buildStrategy(s structs.PlacementStrategy, seed uint64) (strategy, error) {
	ps, err := s.Parse()
	if err != nil {
		return nil, err
	}
	switch {
	case ps.Type == "binpack":
		return binpack{cpu: ps.CPU}, nil
	case ps.Type == "spread" && ps.Attribute != "":
		return spreadAttribute{key: ps.Attribute}, nil
	case ps.Type == "spread":
		return spreadNode{}, nil
	}
	return random{seed: seed}, nil
}

func buildStrategies(ss []structs.PlacementStrategy, seed uint64) ([]strategy, error) {
	out := make([]strategy, 0, len(ss))
	attr := ""
	for _, s := range ss {
		st, err := buildStrategy(s, seed)
		if err != nil {
			return nil, fmt.Errorf("placement strategy: %w", err)
		}
		if sa, ok := st.(spreadAttribute); ok {
			if attr != "" && attr != sa.key {
				return nil, fmt.Errorf("placement strategy: spread over two attributes (%s, %s) is not supported", attr, sa.key)
			}
			attr = sa.key
		}
		out = append(out, st)
	}
	return out, nil
}

// ordered is a strategy whose score is a per-node key that placing a task
// changes only on the chosen node. A planner with one such strategy keeps
// the nodes in a sortedIndex instead of scanning them all per task.
type ordered interface {
	key(ns *nodeState) int64
	floor(n need) int64
}

// sortedIndex keeps nodes ordered by an ordered strategy's key (then by
// list position) so that the best node is found by binary search instead
// of a full scan. Placing a task changes only the chosen node's key, so
// one short move keeps the order.
type sortedIndex struct {
	by    ordered
	order []*nodeState
	pos   []int // pos[ns.idx] is ns's position in order
}

func newSortedIndex(nodes []*nodeState, by ordered) *sortedIndex {
	s := &sortedIndex{by: by, order: append([]*nodeState(nil), nodes...), pos: make([]int, len(nodes))}
	sort.Slice(s.order, func(i, j int) bool { return s.less(s.order[i], s.order[j]) })
	for i, ns := range s.order {
		s.pos[ns.idx] = i
	}
	return s
}

func (s *sortedIndex) less(a, b *nodeState) bool {
	ka, kb := s.by.key(a), s.by.key(b)
	if ka != kb {
		return ka < kb
	}
	return a.idx < b.idx
}

// first returns the first node, in key order, whose key reaches the
// strategy's floor and that passes ok.
func (s *sortedIndex) first(n need, ok func(*nodeState) bool) *nodeState {
	want := s.by.floor(n)
	i := sort.Search(len(s.order), func(i int) bool { return s.by.key(s.order[i]) >= want })
	for ; i < len(s.order); i++ {
		if ok(s.order[i]) {
			return s.order[i]
		}
	}
	return nil
}

// update moves ns to its new place after its key changed.
func (s *sortedIndex) update(ns *nodeState) {
	from := s.pos[ns.idx]
	switch {
	case from > 0 && s.less(ns, s.order[from-1]):
		// The key went down: move left.
		to := sort.Search(from, func(i int) bool { return s.less(ns, s.order[i]) })
		copy(s.order[to+1:from+1], s.order[to:from])
		s.order[to] = ns
		for i := to; i <= from; i++ {
			s.pos[s.order[i].idx] = i
		}
	case from < len(s.order)-1 && s.less(s.order[from+1], ns):
		// The key went up: move right.
		rest := s.order[from+1:]
		to := from + sort.Search(len(rest), func(i int) bool { return s.less(ns, rest[i]) })
		copy(s.order[from:to], s.order[from+1:to+1])
		s.order[to] = ns
		for i := from; i <= to; i++ {
			s.pos[s.order[i].idx] = i
		}
	}
}
