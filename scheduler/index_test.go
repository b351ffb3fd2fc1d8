package scheduler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

var (
	spreadOnNode = []structs.PlacementStrategy{{Type: "spread", Field: "node"}}
	spreadOnZone = []structs.PlacementStrategy{{Type: "spread", Field: "attribute:zone"}}
	zoneThenNode = []structs.PlacementStrategy{{Type: "spread", Field: "attribute:zone"}, {Type: "spread", Field: "node"}}
)

// runTasks gives node id n tasks of service svc that hold no resources.
func (v *view) runTasks(svc, id string, n int) {
	for i := 0; i < n; i++ {
		v.byNode[id] = append(v.byNode[id], &structs.Task{ID: fmt.Sprintf("%s-%s-%d", svc, id, i), Service: svc, Node: id, DesiredStatus: structs.StatusRunning})
	}
}

// TestSpreadTieBreaking checks that among nodes (or attribute values) with
// as few of the service's tasks, the one listed first wins, whatever the
// tasks already running, and that the index agrees with a scan.
func TestSpreadTieBreaking(t *testing.T) {
	cases := []struct {
		name     string
		nodes    []*structs.Node
		running  map[string]int // tasks of web already on each node
		strategy []structs.PlacementStrategy
		count    int
		want     string
	}{
		{
			name:     "nodes that tie go in list order, not by id",
			nodes:    []*structs.Node{node("c", 1000, 1000), node("a", 1000, 1000), node("b", 1000, 1000)},
			strategy: spreadOnNode, count: 5,
			want: "c,a,b,c,a",
		},
		{
			name:     "a node joining a bucket goes by list position, not to its end",
			nodes:    []*structs.Node{node("a", 1000, 1000), node("b", 1000, 1000), node("c", 1000, 1000), node("d", 1000, 1000)},
			running:  map[string]int{"c": 1},
			strategy: spreadOnNode, count: 7,
			want: "a,b,d,a,b,c,d",
		},
		{
			name:     "the least loaded node first, however far down the list",
			nodes:    []*structs.Node{node("a", 1000, 1000), node("b", 1000, 1000), node("c", 1000, 1000)},
			running:  map[string]int{"a": 3, "b": 1},
			strategy: spreadOnNode, count: 6,
			want: "c,b,c,b,c,a",
		},
		{
			name: "zones that tie go by their best node's list position",
			nodes: []*structs.Node{node("a", 1000, 1000, "zone=y"), node("b", 1000, 1000, "zone=x"),
				node("c", 1000, 1000, "zone=x"), node("d", 1000, 1000, "zone=z")},
			strategy: spreadOnZone, count: 6,
			want: "a,b,d,a,b,d",
		},
		{
			name: "zone, then node, then list position",
			nodes: []*structs.Node{node("a", 1000, 1000, "zone=x"), node("b", 1000, 1000, "zone=x"),
				node("c", 1000, 1000, "zone=y"), node("d", 1000, 1000, "zone=y")},
			running:  map[string]int{"a": 1, "d": 1},
			strategy: zoneThenNode, count: 6,
			want: "b,c,a,c,b,d",
		},
		{
			name:     "a node without the attribute counts as its own value",
			nodes:    []*structs.Node{node("a", 1000, 1000, "zone=x"), node("b", 1000, 1000), node("c", 1000, 1000, "zone=x")},
			strategy: zoneThenNode, count: 4,
			want: "a,b,c,b",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newView(tc.nodes...)
			for id, n := range tc.running {
				v.runTasks("web", id, n)
			}
			job := Job{Service: "web", TaskDef: def(1, 1), Count: tc.count, Strategy: tc.strategy}
			plan := Place(v, job)
			if plan.Failure != nil {
				t.Fatal(plan.Failure.String())
			}
			if got := strings.Join(nodesOf(plan), ","); got != tc.want {
				t.Errorf("placed on %s, want %s", got, tc.want)
			}
			if got := strings.Join(nodesOf(Place(v, scanned(job))), ","); got != tc.want {
				t.Errorf("a scan placed on %s, want %s", got, tc.want)
			}
		})
	}
}

// TestSpreadIndexAsNodesFill checks that the index passes over nodes that
// stop fitting as they fill up (memory, a static host port, dynamic ports,
// distinctInstance) or never fit (down, ineligible, excluded), never
// places on them, and explains the rest exactly as a scan does.
func TestSpreadIndexAsNodesFill(t *testing.T) {
	down := node("down", 1000, 1000, "zone=x")
	down.Status = structs.NodeDown
	ineligible := node("ineligible", 1000, 1000, "zone=y")
	ineligible.Eligibility = structs.EligibilityIneligible
	nodes := func() []*structs.Node {
		return []*structs.Node{down, node("small", 1000, 30, "zone=x"), node("big", 1000, 1000, "zone=x"),
			ineligible, node("mid", 1000, 60, "zone=y"), node("excluded", 1000, 1000, "zone=z1"), node("other", 1000, 1000, "zone=y")}
	}
	notZ1 := []structs.PlacementConstraint{{Type: "memberOf", Expression: "attribute:zone != z1"}}
	cases := []struct {
		name        string
		taskDef     *structs.TaskDefinition
		constraints []structs.PlacementConstraint
		count       int
		// want maps each strategy's name to where the tasks go.
		want map[string]string
		fail string
	}{
		{
			name: "memory runs out node by node", taskDef: def(1, 20), constraints: notZ1, count: 200,
			want: map[string]string{
				"node": "small,big,mid,other,big,mid,other,big,mid,other" + strings.Repeat(",big,other", 47),
				// Within a zone the node listed first that fits wins.
				"zone":      "small,mid,big,mid,big,mid" + strings.Repeat(",big,other", 48) + ",other,other",
				"zone+node": "small,mid,big,other,big,mid,other,big,mid" + strings.Repeat(",big,other", 47) + ",other",
			},
			fail: "0 of 7 nodes can run web:1 (cpu 1, memory 20 MiB): 4 nodes lack memory (need 20 MiB, most free 1000 MiB); 1 node: node is down; 1 node: node is ineligible; 1 node excluded by constraint memberOf attribute:zone != z1",
		},
		{
			name: "a static host port fills each node at once", taskDef: def(1, 1, 8080), count: 6,
			want: map[string]string{
				"node":      "small,big,mid,excluded,other",
				"zone":      "small,mid,excluded,big,other",
				"zone+node": "small,mid,excluded,big,other",
			},
			fail: "5 nodes: host port 8080 in use",
		},
		{
			name: "dynamic ports run out", taskDef: def(1, 1, 0, 0, 0), constraints: notZ1, count: 14,
			want: map[string]string{
				"node":      "small,big,mid,other,small,big,mid,other,small,big,mid,other",
				"zone":      "small,mid,small,mid,small,mid,big,other,big,other,big,other",
				"zone+node": "small,mid,big,other,small,mid,big,other,small,mid,big,other",
			},
			fail: "no free dynamic host port",
		},
		{
			name: "distinctInstance", taskDef: def(1, 1), constraints: []structs.PlacementConstraint{{Type: "distinctInstance"}}, count: 6,
			want: map[string]string{
				"node":      "small,big,mid,excluded,other",
				"zone":      "small,mid,excluded,big,other",
				"zone+node": "small,mid,excluded,big,other",
			},
			fail: "5 nodes excluded by constraint distinctInstance",
		},
	}
	strategies := map[string][]structs.PlacementStrategy{"node": spreadOnNode, "zone": spreadOnZone, "zone+node": zoneThenNode}
	for _, tc := range cases {
		for name, strategy := range strategies {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				v := newView(nodes()...)
				job := Job{Service: "web", TaskDef: tc.taskDef, Count: tc.count, Strategy: strategy, Constraints: tc.constraints}
				plan, scan := Place(v, job), Place(v, scanned(job))
				got := strings.Join(nodesOf(plan), ",")
				if got != tc.want[name] {
					t.Errorf("placed on %s, want %s", got, tc.want[name])
				}
				if s := strings.Join(nodesOf(scan), ","); s != got {
					t.Errorf("a scan placed on %s", s)
				}
				if plan.Failure == nil || scan.Failure == nil {
					t.Fatalf("want failure %q", tc.fail)
				}
				if !strings.Contains(plan.Failure.String(), tc.fail) {
					t.Errorf("failure %q does not contain %q", plan.Failure.String(), tc.fail)
				}
				if plan.Failure.String() != scan.Failure.String() {
					t.Errorf("failure %q, a scan's %q", plan.Failure.String(), scan.Failure.String())
				}
				v.apply(job, plan)
				checkView(t, v)
			})
		}
	}
}
