package scheduler

import (
	"fmt"

	"github.com/skiff-run/skiff/structs"
)

// PlaceOn places one task of job on each node that nodes names by id, in
// order, as ECS's StartTask does: each through the same checks as any
// placement (status, eligibility, pool, constraints, host paths,
// privileges, cpu, memory, GPUs and ports, counting the tasks placed before
// it in the same call). Count and Strategy are not used. The plan is all or
// nothing: when a named node cannot take its task, Placements is empty and
// Failure explains that node's refusal, naming it.
func PlaceOn(v View, job Job, nodes []string) Plan {
	var plan Plan
	if len(nodes) == 0 {
		return plan
	}
	job.Strategy, job.Preferred = nil, nil
	// Only the named nodes are planned over: the state machine runs this
	// for every placement it checks, and reading the tasks of every node
	// would cost as much as the whole cluster's tasks each time.
	named := make(map[string]bool, len(nodes))
	for _, id := range nodes {
		named[id] = true
	}
	var considered []*structs.Node
	for _, n := range v.Nodes() {
		if named[n.ID] {
			considered = append(considered, n)
		}
	}
	fail := func(f *structs.PlacementFailure) Plan {
		f.Count, f.TaskDefinition = len(nodes), job.TaskDef.Ref()
		return Plan{Failure: f}
	}
	p, err := newPlanner(v, considered, job)
	if err != nil {
		return fail(&structs.PlacementFailure{Nodes: len(considered), Reasons: []structs.PlacementReason{{Kind: structs.ReasonInvalid, Detail: err.Error()}}})
	}
	byID := make(map[string]*nodeState, len(p.nodes))
	for _, ns := range p.nodes {
		byID[ns.node.ID] = ns
	}
	for _, id := range nodes {
		ns := byID[id]
		if ns == nil {
			return fail(&structs.PlacementFailure{Node: id, Reasons: []structs.PlacementReason{{Kind: structs.ReasonNoNodes,
				Detail: fmt.Sprintf("node %s is not registered", id)}}})
		}
		if !ns.node.InCluster(job.Cluster) {
			return fail(&structs.PlacementFailure{Node: nodeName(ns.node), Nodes: 1, Reasons: []structs.PlacementReason{{Kind: structs.ReasonCluster, Nodes: 1,
				Detail: fmt.Sprintf("node %s is in cluster %s, the task runs in cluster %s", nodeName(ns.node), structs.ClusterName(ns.node.Cluster), structs.ClusterName(job.Cluster))}}})
		}
		if why := p.fits(ns); why != (refusal{}) {
			f := p.explainNode(ns, why)
			return fail(f)
		}
		plan.Placements = append(plan.Placements, p.commit(ns))
	}
	return plan
}

// explainNode is explain for the one node a placement named.
func (p *planner) explainNode(ns *nodeState, why refusal) *structs.PlacementFailure {
	r := structs.PlacementReason{Kind: why.kind, Nodes: 1, Detail: why.detail}
	switch why.kind {
	case structs.ReasonMemory:
		r.Need, r.MostFree = p.need.mem, ns.memFree
	case structs.ReasonCPU:
		r.Need, r.MostFree = p.need.cpu, ns.cpuFree
	case structs.ReasonGPU:
		r.Need, r.MostFree = int64(p.need.gpus), int64(ns.freeGPUs())
	}
	return &structs.PlacementFailure{Node: nodeName(ns.node), CPU: p.need.cpu, MemoryMiB: p.need.mem, Nodes: 1, Reasons: []structs.PlacementReason{r}}
}
