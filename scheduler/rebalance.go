package scheduler

import (
	"fmt"
	"strings"

	"github.com/skiff-run/skiff/structs"
)

// Move is one step of a rebalance: a task of the service leaves the node
// its spread counts most tasks on for a node that can take it and whose
// spread counts at least two fewer, so that the step always evens the
// spread out.
type Move struct {
	// Task is the task to replace, on node From; To is where its
	// replacement goes, with its host ports and GPUs.
	Task string
	From string
	To   Placement
	// FromCount and ToCount are the tasks of the service the spread
	// counts on each side before the move: on the node, or, for a spread
	// over an attribute, on the nodes of the node's value.
	FromCount, ToCount int
	// Over is what the spread counts by: "node", or "attribute:KEY".
	Over string
}

func (m Move) String() string {
	return fmt.Sprintf("task %s moves from node %s (%d tasks of the service by %s) to node %s (%d)",
		m.Task, m.From, m.FromCount, m.Over, m.To.Node, m.ToCount)
}

// Rebalance chooses the next move toward an even spread of job's service,
// whose first placement strategy must be a spread. movable are the tasks
// it may move, all of the service; every task of the service in the view
// counts toward the spread. The task to move is the newest movable one on
// the node whose spread count is the highest; its replacement goes to the
// node, among those that can take it now, with the lowest count, and only
// when that is at least two below, since a move between counts one apart
// only swaps them. Ties fall to the node listed first. When no move helps,
// Rebalance returns nil and says why. Job.Count is not used.
func Rebalance(v View, job Job, movable []*structs.Task) (*Move, string) {
	if len(job.Strategy) == 0 {
		return nil, "the service has no placement strategy to balance by"
	}
	first, err := job.Strategy[0].Parse()
	if err != nil || first.Type != "spread" {
		return nil, "the service's first placement strategy is not a spread"
	}
	job.Count, job.Releasing, job.Preferred = 1, nil, nil
	nodes, why := poolNodes(v.Nodes(), job.Cluster)
	if len(nodes) == 0 {
		return nil, why
	}
	p, err := newPlanner(v, nodes, job)
	if err != nil {
		return nil, err.Error()
	}
	over, count := "node", func(ns *nodeState) int { return ns.svcTasks }
	if first.Attribute != "" {
		over, count = "attribute:"+first.Attribute, func(ns *nodeState) int { return p.groupCounts[ns.attrGroup] }
	}
	byID := map[string]*nodeState{}
	for _, ns := range p.nodes {
		byID[ns.node.ID] = ns
	}
	// The source: the node of the highest count that holds a movable
	// task, the more of the service's own tasks on it the better; and its
	// newest movable task.
	var from *nodeState
	var task *structs.Task
	for _, t := range movable {
		ns := byID[t.Node]
		if ns == nil || t.Service != job.Service {
			continue
		}
		switch {
		case from == nil || heavier(count, ns, from):
			from, task = ns, t
		case ns == from && (t.CreatedAt > task.CreatedAt || t.CreatedAt == task.CreatedAt && t.ID > task.ID):
			task = t
		}
	}
	if from == nil {
		return nil, "no task of the service can move"
	}
	// The target: the lowest count among the nodes that can take the task
	// now. The nodes the spread would rather have but that cannot take it
	// are what the reason names when there is no move.
	var to *nodeState
	var refused []string
	for _, ns := range p.nodes {
		if ns == from {
			continue
		}
		// The zero refusal's text is "".
		why := p.fits(ns).text()
		if why == "" {
			why = failedMove(v, job, ns.node.ID)
		}
		if why != "" {
			if count(ns) <= count(from)-2 && nodeRefusal(ns) == (refusal{}) && filterRefusal(p.nonDistinct(), ns) == (refusal{}) {
				refused = append(refused, fmt.Sprintf("node %s (%d): %s", nodeName(ns.node), count(ns), why))
			}
			continue
		}
		if to == nil || lighter(count, ns, to) {
			to = ns
		}
	}
	if to != nil && count(to) <= count(from)-2 {
		m := &Move{Task: task.ID, From: from.node.ID, FromCount: count(from), ToCount: count(to), Over: over}
		m.To = p.commit(to)
		return m, ""
	}
	if to == nil && len(refused) == 0 {
		return nil, fmt.Sprintf("no node but %s can take a task of the service", nodeName(from.node))
	}
	if len(refused) > 0 {
		return nil, fmt.Sprintf("node %s has %d tasks of the service by %s, but the nodes with fewer cannot take one: %s",
			nodeName(from.node), count(from), over, strings.Join(refused, "; "))
	}
	return nil, fmt.Sprintf("the spread by %s is even: node %s has the most tasks of the service (%d), no node that can take one has fewer than %d",
		over, nodeName(from.node), count(from), count(from)-1)
}

// heavier reports whether a holds more of the service than b: a higher
// spread count, then more of the service's tasks on the node itself;
// ties go to the node listed first, so that the choice is the same on
// every run.
func heavier(count func(*nodeState) int, a, b *nodeState) bool {
	if count(a) != count(b) {
		return count(a) > count(b)
	}
	if a.svcTasks != b.svcTasks {
		return a.svcTasks > b.svcTasks
	}
	return a.idx < b.idx
}

// failedMove says why a node is no target for a move of job's tasks: an
// earlier replacement of the same revision failed there, or turned
// unhealthy and was given up on, and a move that failed once would most
// likely fail again. Such a task stays in the view
// until garbage collection forgets it, or the service moves to another
// revision. It returns "" for a node with no failed replacement.
func failedMove(v View, job Job, node string) string {
	for _, t := range v.TasksByNode(node) {
		if t.Service == job.Service && t.Replaces != "" && t.TaskDefinition == job.TaskDef.Ref() &&
			(t.Failed || strings.HasPrefix(t.StopReason, structs.MoveAbandoned)) {
			return fmt.Sprintf("replacement task %s of %s failed there: %s", t.ID, t.TaskDefinition, t.StopReason)
		}
	}
	return ""
}

// lighter reports whether a holds less of the service than b, by the same
// order as heavier; ties go to the node listed first.
func lighter(count func(*nodeState) int, a, b *nodeState) bool {
	if count(a) != count(b) {
		return count(a) < count(b)
	}
	if a.svcTasks != b.svcTasks {
		return a.svcTasks < b.svcTasks
	}
	return a.idx < b.idx
}
