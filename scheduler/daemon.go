package scheduler

import (
	"sort"

	"github.com/skiff-run/skiff/structs"
)

// Excludes says why a daemon job does not belong on node n: the node is
// not ready, not eligible, or a placement constraint excludes it. It
// returns "" for a node the daemon should run on. Constraints that cannot
// be parsed exclude every node, with the error as the reason.
//
// distinctInstance is no reason: a daemon runs one task per node anyway.
// A node of another pool than the job's is excluded too.
func Excludes(job Job, n *structs.Node) string {
	if !n.InCluster(job.Cluster) {
		return "the node is in cluster " + structs.ClusterName(n.Cluster)
	}
	filters, err := buildFilters(job.Constraints)
	if err != nil {
		return err.Error()
	}
	ns := &nodeState{node: n}
	for _, why := range []refusal{nodeRefusal(ns), filterRefusal(filters, ns)} {
		if why != (refusal{}) {
			return why.text()
		}
	}
	return ""
}

func nodeRefusal(ns *nodeState) refusal {
	if ns.node.Status != structs.NodeReady {
		return refusal{structs.ReasonNodeStatus, ns.node.Status}
	}
	if ns.node.Eligibility != structs.EligibilityEligible {
		return refusal{structs.ReasonIneligible, ns.node.Eligibility}
	}
	return refusal{}
}

func filterRefusal(filters []filter, ns *nodeState) refusal {
	for _, f := range filters {
		if !f.ok(ns) {
			return refusal{structs.ReasonConstraint, f.String()}
		}
	}
	return refusal{}
}

// PlaceDaemon places one task of job.Service on every node that the job
// does not exclude (see Excludes) and that runs no active task of the
// service outside job.Releasing. Count and Strategy are not used: where
// the tasks go is the daemon's definition. Failure explains the nodes that
// should take a task and cannot, for lack of room or of an agent
// permission; its Count and Nodes are how many of them there are, so that
// it reads "unable to place 2 task(s): 0 of 2 nodes can run ...: 2 nodes
// lack memory".
func PlaceDaemon(v View, job Job) Plan {
	var plan Plan
	nodes, _ := poolNodes(v.Nodes(), job.Cluster)
	job.Strategy = nil
	p, err := newPlanner(v, nodes, job)
	if err != nil {
		plan.Failure = &structs.PlacementFailure{Count: 1, TaskDefinition: job.TaskDef.Ref(), Nodes: len(nodes),
			Reasons: []structs.PlacementReason{{Kind: structs.ReasonInvalid, Detail: err.Error()}}}
		return plan
	}
	counts := map[refusal]int{}
	var order []refusal
	var refused []*nodeState
	filters := p.nonDistinct()
	for _, ns := range p.nodes {
		if nodeRefusal(ns) != (refusal{}) || filterRefusal(filters, ns) != (refusal{}) {
			continue
		}
		if ns.svcTasks > 0 {
			continue
		}
		why := p.fits(ns)
		if why == (refusal{}) {
			plan.Placements = append(plan.Placements, p.commit(ns))
			continue
		}
		if counts[why] == 0 {
			order = append(order, why)
		}
		counts[why]++
		refused = append(refused, ns)
	}
	if len(refused) == 0 {
		return plan
	}
	sort.SliceStable(order, func(i, j int) bool { return counts[order[i]] > counts[order[j]] })
	f := &structs.PlacementFailure{Count: len(refused), TaskDefinition: job.TaskDef.Ref(), CPU: p.need.cpu, MemoryMiB: p.need.mem, Nodes: len(refused)}
	for _, why := range order {
		r := structs.PlacementReason{Kind: why.kind, Nodes: counts[why], Detail: why.detail}
		switch why.kind {
		case structs.ReasonMemory:
			r.Need, r.MostFree = p.need.mem, mostFree(refused, func(ns *nodeState) int64 { return ns.memFree })
		case structs.ReasonCPU:
			r.Need, r.MostFree = p.need.cpu, mostFree(refused, func(ns *nodeState) int64 { return ns.cpuFree })
		case structs.ReasonGPU:
			r.Need, r.MostFree = int64(p.need.gpus), mostFree(refused, func(ns *nodeState) int64 { return int64(ns.freeGPUs()) })
		}
		f.Reasons = append(f.Reasons, r)
	}
	plan.Failure = f
	return plan
}

// nonDistinct is the job's filters without distinctInstance, which for a
// daemon says whether a node has its task yet, not whether it is meant to.
func (p *planner) nonDistinct() []filter {
	out := make([]filter, 0, len(p.filters))
	for _, f := range p.filters {
		if _, ok := f.(distinctInstance); !ok {
			out = append(out, f)
		}
	}
	return out
}

func mostFree(nodes []*nodeState, free func(*nodeState) int64) int64 {
	most := int64(-1)
	for _, ns := range nodes {
		most = max(most, free(ns))
	}
	return most
}
