package scheduler

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

var spreadNodes = []structs.PlacementStrategy{{Type: "spread", Field: "instanceId"}}

// running puts count running tasks of web on a node, created at 1, 2, ...
func (v *view) running(node string, count int, td *structs.TaskDefinition) {
	for i := 0; i < count; i++ {
		n := len(v.byNode[node])
		v.byNode[node] = append(v.byNode[node], &structs.Task{ID: fmt.Sprintf("%s-%d", node, n), Service: "web", Node: node,
			DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusRunning, CPU: td.CPU(), MemoryMiB: td.MemoryMiB(),
			CreatedAt: int64(n + 1)})
	}
}

func (v *view) webTasks() []*structs.Task {
	var out []*structs.Task
	for _, n := range v.nodes {
		out = append(out, v.byNode[n.ID]...)
	}
	return out
}

// move does what the leader does with a move once the replacement is
// healthy: the replacement runs on its node and the moved task is gone.
func (v *view) move(m *Move, td *structs.TaskDefinition) {
	v.byNode[m.From] = slices.DeleteFunc(v.byNode[m.From], func(t *structs.Task) bool { return t.ID == m.Task })
	v.byNode[m.To.Node] = append(v.byNode[m.To.Node], &structs.Task{ID: "r-" + m.Task, Service: "web", Node: m.To.Node,
		DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusRunning, CPU: td.CPU(), MemoryMiB: td.MemoryMiB(),
		HostPorts: m.To.HostPorts, CreatedAt: 100})
}

func (v *view) counts() []int {
	var out []int
	for _, n := range v.nodes {
		out = append(out, len(v.byNode[n.ID]))
	}
	return out
}

func TestRebalanceEvensOutAJoinedNode(t *testing.T) {
	td := def(0, 100)
	v := newView(node("n1", 4096, 4096), node("n2", 4096, 4096), node("n3", 4096, 4096))
	v.running("n1", 3, td)
	v.running("n2", 3, td)
	job := Job{Service: "web", TaskDef: td, Strategy: spreadNodes}
	var moves []string
	for range 10 {
		m, why := Rebalance(v, job, v.webTasks())
		if m == nil {
			if !strings.Contains(why, "is even") {
				t.Errorf("reason %q: want one saying the spread is even", why)
			}
			break
		}
		moves = append(moves, m.String())
		v.move(m, td)
	}
	want := []string{
		"task n1-2 moves from node n1 (3 tasks of the service by node) to node n3 (0)",
		"task n2-2 moves from node n2 (3 tasks of the service by node) to node n3 (1)",
	}
	if !slices.Equal(moves, want) {
		t.Errorf("moves\n%s\nwant\n%s", strings.Join(moves, "\n"), strings.Join(want, "\n"))
	}
	if c := v.counts(); !slices.Equal(c, []int{2, 2, 2}) {
		t.Errorf("counts %v: want 2-2-2", c)
	}
}

func TestRebalanceRefuses(t *testing.T) {
	td := def(0, 100)
	cases := []struct {
		name  string
		nodes []*structs.Node
		setup func(v *view)
		job   Job
		want  string
	}{
		{"a spread one apart", []*structs.Node{node("n1", 4096, 4096), node("n2", 4096, 4096), node("n3", 4096, 4096)},
			func(v *view) { v.running("n1", 2, td); v.running("n2", 2, td); v.running("n3", 1, td) },
			Job{Service: "web", TaskDef: td, Strategy: spreadNodes}, "the spread by node is even"},
		{"a full node", []*structs.Node{node("n1", 4096, 4096), node("n2", 4096, 4096), node("n3", 4096, 50)},
			func(v *view) { v.running("n1", 3, td); v.running("n2", 3, td) },
			Job{Service: "web", TaskDef: td, Strategy: spreadNodes}, "node n3 (0): not enough memory free"},
		{"a node the constraints exclude", []*structs.Node{node("n1", 4096, 4096), node("n2", 4096, 4096), node("n3", 4096, 4096, "zone=b")},
			func(v *view) { v.running("n1", 3, td); v.running("n2", 3, td) },
			Job{Service: "web", TaskDef: td, Strategy: spreadNodes,
				Constraints: []structs.PlacementConstraint{{Type: "memberOf", Expression: "attribute:zone != b"}}}, "the spread by node is even"},
		{"a drained node", []*structs.Node{node("n1", 4096, 4096), func() *structs.Node {
			n := node("n2", 4096, 4096)
			n.Eligibility = structs.EligibilityIneligible
			return n
		}()}, func(v *view) { v.running("n1", 4, td) },
			Job{Service: "web", TaskDef: td, Strategy: spreadNodes}, "no node but n1 can take a task"},
		{"binpack", []*structs.Node{node("n1", 4096, 4096), node("n2", 4096, 4096)},
			func(v *view) { v.running("n1", 4, td) },
			Job{Service: "web", TaskDef: td, Strategy: []structs.PlacementStrategy{{Type: "binpack", Field: "memory"}}}, "not a spread"},
		{"nothing movable", []*structs.Node{node("n1", 4096, 4096), node("n2", 4096, 4096)},
			func(v *view) { v.running("n1", 4, td) },
			Job{Service: "other", TaskDef: td, Strategy: spreadNodes}, "no task of the service can move"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := newView(c.nodes...)
			c.setup(v)
			m, why := Rebalance(v, c.job, v.webTasks())
			if m != nil || !strings.Contains(why, c.want) {
				t.Errorf("move %v, reason %q: want no move and a reason containing %q", m, why, c.want)
			}
		})
	}
}

// Only the tasks the caller calls movable move; the others still count
// toward the spread.
func TestRebalanceMovesOnlyMovableTasks(t *testing.T) {
	td := def(0, 100)
	v := newView(node("n1", 4096, 4096), node("n2", 4096, 4096), node("n3", 4096, 4096))
	v.running("n1", 4, td)
	v.running("n2", 3, td)
	m, why := Rebalance(v, Job{Service: "web", TaskDef: td, Strategy: spreadNodes}, v.byNode["n2"])
	if m == nil || m.Task != "n2-2" || m.From != "n2" || m.To.Node != "n3" || m.FromCount != 3 {
		t.Errorf("move %v (%s): want n2's newest task to n3", m, why)
	}
}

// A spread over an attribute balances the attribute's values: the nodes of
// a zone count together, and a move within one zone changes nothing.
func TestRebalanceOverAnAttribute(t *testing.T) {
	td := def(0, 100)
	v := newView(node("a1", 4096, 4096, "zone=a"), node("a2", 4096, 4096, "zone=a"), node("b1", 4096, 4096, "zone=b"))
	v.running("a1", 2, td)
	v.running("a2", 2, td)
	job := Job{Service: "web", TaskDef: td, Strategy: []structs.PlacementStrategy{{Type: "spread", Field: "attribute:zone"}}}
	var moves []string
	for range 10 {
		m, _ := Rebalance(v, job, v.webTasks())
		if m == nil {
			break
		}
		moves = append(moves, m.String())
		v.move(m, td)
	}
	want := []string{
		"task a1-1 moves from node a1 (4 tasks of the service by attribute:zone) to node b1 (0)",
		"task a2-1 moves from node a2 (3 tasks of the service by attribute:zone) to node b1 (1)",
	}
	if !slices.Equal(moves, want) {
		t.Errorf("moves\n%s\nwant\n%s", strings.Join(moves, "\n"), strings.Join(want, "\n"))
	}
}

// The replacement's placement takes host ports as any placement does: a
// static port in use on the emptiest node keeps the task where it is.
func TestRebalanceNeedsTheTaskToFit(t *testing.T) {
	td := def(0, 100, 8080)
	v := newView(node("n1", 4096, 4096), node("n2", 4096, 4096))
	v.running("n1", 2, td)
	v.byNode["n1"][0].HostPorts = []int{8080}
	v.byNode["n2"] = append(v.byNode["n2"], &structs.Task{ID: "other", Service: "db", Node: "n2", DesiredStatus: structs.StatusRunning,
		LastStatus: structs.StatusRunning, HostPorts: []int{8080}})
	m, why := Rebalance(v, Job{Service: "web", TaskDef: td, Strategy: spreadNodes}, v.byNode["n1"])
	if m != nil || !strings.Contains(why, "node n2 (0): host port 8080 in use") {
		t.Errorf("move %v, reason %q: want none, naming n2's port", m, why)
	}
	v.byNode["n2"] = nil
	m, _ = Rebalance(v, Job{Service: "web", TaskDef: td, Strategy: spreadNodes}, v.byNode["n1"])
	if m == nil || m.To.Node != "n2" || !slices.Equal(m.To.HostPorts, []int{8080}) {
		t.Errorf("move %v: want one to n2 on host port 8080", m)
	}
}

// A node where a replacement of the same revision failed is no target, and
// the reason names the failed task.
func TestRebalanceAvoidsAFailedMove(t *testing.T) {
	td := def(0, 100)
	v := newView(node("n1", 4096, 4096), node("n2", 4096, 4096))
	v.running("n1", 2, td)
	v.byNode["n2"] = []*structs.Task{{ID: "r1", Service: "web", Node: "n2", TaskDefinition: td.Ref(), Replaces: "n1-1", Failed: true,
		DesiredStatus: structs.StatusStopped, LastStatus: structs.StatusStopped, StopReason: "essential container app exited with code 1"}}
	job := Job{Service: "web", TaskDef: td, Strategy: spreadNodes}
	m, why := Rebalance(v, job, v.webTasks())
	if m != nil || !strings.Contains(why, "node n2 (0): replacement task r1 of web:1 failed there: essential container app exited") {
		t.Errorf("move %v, reason %q: want none, naming the failed replacement", m, why)
	}
	v.byNode["n2"][0].Failed, v.byNode["n2"][0].StopReason = false, structs.MoveAbandoned+": unhealthy; task n1-1 stays on node n1"
	if m, why := Rebalance(v, job, v.webTasks()); m != nil || !strings.Contains(why, "replacement task r1 of web:1 failed there: rebalance abandoned") {
		t.Errorf("move %v, reason %q: want none, naming the replacement given up on", m, why)
	}
	job.TaskDef = def(0, 100)
	job.TaskDef.Revision = 2
	if m, why := Rebalance(v, job, v.webTasks()); m == nil || m.To.Node != "n2" {
		t.Errorf("move %v (%s): want one to n2, where only another revision failed", m, why)
	}
}
