package scheduler

import (
	"container/heap"
	"slices"
	"sort"
)

// nodeIndex finds the node a planner's strategies prefer without scoring
// every node for every task. An index may rely on this: whether a node fits
// depends on that node's own state alone, which changes only when it takes
// a task, so a node that does not fit will not fit for the rest of the plan
// and may be dropped for good.
type nodeIndex interface {
	// best returns the preferred node that fits, or nil when none does;
	// among equals it returns the one listed first, as a scan would.
	best() *nodeState
	// update is called after ns, the node best returned, took a task.
	update(ns *nodeState)
}

// newIndex returns an index for the planner's strategies, or nil when
// they need a scan of every node: random, and several strategies other
// than a spread over an attribute followed by a spread over nodes.
func newIndex(p *planner) nodeIndex {
	fits := func(ns *nodeState) bool { return p.fits(ns) == (refusal{}) }
	svcTasks := func(ns *nodeState) int64 { return int64(ns.svcTasks) }
	same := func(*nodeState) int64 { return 0 }
	switch s := p.strategies; {
	case len(s) == 1:
		switch st := s[0].(type) {
		case binpack:
			return newSortedIndex(p.nodes, st, st.floor(p.need), fits)
		case spreadNode:
			return newBucketIndex(p.nodes, svcTasks, fits)
		case spreadAttribute:
			return newGroupIndex(p, same, fits)
		}
	case len(s) == 2:
		_, attr := s[0].(spreadAttribute)
		_, node := s[1].(spreadNode)
		if attr && node {
			return newGroupIndex(p, svcTasks, fits)
		}
	}
	return nil
}

// sortedIndex serves binpack: it keeps nodes ordered by how much of the
// resource they have left (then by list position) so that the best fit is
// found by binary search instead of a full scan. Placing a task changes
// only the chosen node's key, so one short move keeps the order.
type sortedIndex struct {
	by    binpack
	floor int64 // the least key of a node that can take the task
	fits  func(*nodeState) bool
	order []*nodeState
	pos   []int // pos[ns.idx] is ns's position in order
}

func newSortedIndex(nodes []*nodeState, by binpack, floor int64, fits func(*nodeState) bool) *sortedIndex {
	s := &sortedIndex{by: by, floor: floor, fits: fits, order: append([]*nodeState(nil), nodes...), pos: make([]int, len(nodes))}
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

// best returns the first node, in key order, whose key reaches the floor
// and that fits.
func (s *sortedIndex) best() *nodeState {
	i := sort.Search(len(s.order), func(i int) bool { return s.by.key(s.order[i]) >= s.floor })
	for ; i < len(s.order); i++ {
		if s.fits(s.order[i]) {
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

// bucketIndex serves spread over nodes: it keeps the nodes in buckets by
// how many of the service's tasks they hold, each bucket in list order, so
// that the preferred node is the first node of the lowest bucket that fits.
// A sorted order would have to move the chosen node past every node of the
// same count after each placement, which is most of the cluster when the
// nodes tie; here the chosen node leaves the front of its bucket and
// usually joins the end of the next one, and nodes that no longer fit are
// dropped as they are met, so a placement costs O(1) amortised.
type bucketIndex struct {
	key     func(*nodeState) int64 // only ever rises when a node takes a task
	fits    func(*nodeState) bool
	keys    []int64        // the buckets' keys, ascending
	buckets [][]*nodeState // buckets[i] holds the nodes whose key is keys[i], in list order
	lo      int            // every bucket before lo is empty
}

// newBucketIndex takes nodes in list order.
func newBucketIndex(nodes []*nodeState, key func(*nodeState) int64, fits func(*nodeState) bool) *bucketIndex {
	b := &bucketIndex{key: key, fits: fits}
	// A stable sort keeps list order within each key.
	sorted := append([]*nodeState(nil), nodes...)
	sort.SliceStable(sorted, func(i, j int) bool { return key(sorted[i]) < key(sorted[j]) })
	for _, ns := range sorted {
		k := key(ns)
		if n := len(b.keys); n == 0 || b.keys[n-1] != k {
			b.keys = append(b.keys, k)
			b.buckets = append(b.buckets, nil)
		}
		last := len(b.buckets) - 1
		b.buckets[last] = append(b.buckets[last], ns)
	}
	return b
}

func (b *bucketIndex) best() *nodeState {
	for ; b.lo < len(b.buckets); b.lo++ {
		bucket := b.buckets[b.lo]
		for len(bucket) > 0 && !b.fits(bucket[0]) {
			bucket = bucket[1:]
		}
		b.buckets[b.lo] = bucket
		if len(bucket) > 0 {
			return bucket[0]
		}
	}
	return nil
}

// update takes ns, which best found at the front of bucket lo, out of it
// (a reslice, not a copy) and files it under its new key in list order.
// The chosen node is usually listed after every node already holding one
// more task, so the filing is usually an append.
func (b *bucketIndex) update(ns *nodeState) {
	b.buckets[b.lo] = b.buckets[b.lo][1:]
	k := b.key(ns)
	i := sort.Search(len(b.keys), func(i int) bool { return b.keys[i] >= k })
	if i == len(b.keys) || b.keys[i] != k {
		b.keys = slices.Insert(b.keys, i, k)
		// Keys only rise, so the new bucket comes after the node's old
		// one and lo stays where it is.
		b.buckets = slices.Insert(b.buckets, i, []*nodeState(nil))
	}
	bucket := b.buckets[i]
	j := sort.Search(len(bucket), func(j int) bool { return bucket[j].idx > ns.idx })
	b.buckets[i] = slices.Insert(bucket, j, ns)
}

// groupIndex serves a spread over an attribute, alone or followed by a
// spread over nodes. It keeps the nodes of each attribute value in a
// bucketIndex (by the service's tasks on each node for the spread over
// nodes, else all in one bucket), and the values in a heap by their count
// of the service's tasks, then by their best node's key and list position,
// which is the order a scan would pick in. A placement changes only the
// chosen value's count and nodes, so it costs one heap fix, O(log values).
type groupIndex struct {
	counts []int // the planner's count of the service's tasks per value
	key    func(*nodeState) int64
	groups []*bucketIndex
	top    []*nodeState // top[g] is group g's best node, nil when none fits
	heap   []int        // the groups with a node that fits, a heap by Less
	pos    []int        // pos[g] is group g's position in heap
}

func newGroupIndex(p *planner, key func(*nodeState) int64, fits func(*nodeState) bool) *groupIndex {
	members := make([][]*nodeState, len(p.groupCounts))
	for _, ns := range p.nodes {
		members[ns.attrGroup] = append(members[ns.attrGroup], ns)
	}
	x := &groupIndex{counts: p.groupCounts, key: key, top: make([]*nodeState, len(members)), pos: make([]int, len(members))}
	for g, nodes := range members {
		x.groups = append(x.groups, newBucketIndex(nodes, key, fits))
		if x.top[g] = x.groups[g].best(); x.top[g] != nil {
			x.pos[g] = len(x.heap)
			x.heap = append(x.heap, g)
		}
	}
	heap.Init(x)
	return x
}

func (x *groupIndex) best() *nodeState {
	if len(x.heap) == 0 {
		return nil
	}
	return x.top[x.heap[0]]
}

// update refiles ns within its group and the group within the heap; the
// planner has already counted the task against the group. The other
// groups' best nodes stand, since their nodes did not change.
func (x *groupIndex) update(ns *nodeState) {
	g := ns.attrGroup
	x.groups[g].update(ns)
	if x.top[g] = x.groups[g].best(); x.top[g] != nil {
		heap.Fix(x, x.pos[g])
	} else {
		heap.Remove(x, x.pos[g])
	}
}

// Len, Less, Swap, Push and Pop make groupIndex a heap.Interface over its
// groups.
func (x *groupIndex) Len() int { return len(x.heap) }

func (x *groupIndex) Less(i, j int) bool {
	a, b := x.heap[i], x.heap[j]
	if x.counts[a] != x.counts[b] {
		return x.counts[a] < x.counts[b]
	}
	na, nb := x.top[a], x.top[b]
	if ka, kb := x.key(na), x.key(nb); ka != kb {
		return ka < kb
	}
	return na.idx < nb.idx
}

func (x *groupIndex) Swap(i, j int) {
	x.heap[i], x.heap[j] = x.heap[j], x.heap[i]
	x.pos[x.heap[i]], x.pos[x.heap[j]] = i, j
}

func (x *groupIndex) Push(v any) {
	x.pos[v.(int)] = len(x.heap)
	x.heap = append(x.heap, v.(int))
}

func (x *groupIndex) Pop() any {
	g := x.heap[len(x.heap)-1]
	x.heap = x.heap[:len(x.heap)-1]
	return g
}
