package scheduler

import (
	"fmt"
	"hash/fnv"

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
