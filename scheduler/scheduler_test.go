package scheduler

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// view is an in-memory View for tests.
type view struct {
	nodes    []*structs.Node
	byNode   map[string][]*structs.Task
	services []*structs.Service
}

func (v *view) Nodes() []*structs.Node                { return v.nodes }
func (v *view) TasksByNode(id string) []*structs.Task { return v.byNode[id] }
func (v *view) ListenerPorts() map[int]string         { return structs.ListenerPorts(v.services) }

func newView(nodes ...*structs.Node) *view {
	return &view{nodes: nodes, byNode: map[string][]*structs.Task{}}
}

func node(id string, cpu, mem int64, attrs ...string) *structs.Node {
	n := &structs.Node{ID: id, CPU: cpu, MemoryMiB: mem, Status: structs.NodeReady, Eligibility: structs.EligibilityEligible,
		PortMin: 20000, PortMax: 20009, Attributes: map[string]string{}}
	for _, kv := range attrs {
		k, v, _ := strings.Cut(kv, "=")
		n.Attributes[k] = v
	}
	return n
}

func def(cpu, mem int64, ports ...int) *structs.TaskDefinition {
	c := structs.ContainerDefinition{Name: "app", Image: "x", CPU: cpu, Memory: mem}
	for _, p := range ports {
		c.PortMappings = append(c.PortMappings, structs.PortMapping{ContainerPort: 80, HostPort: p})
	}
	return &structs.TaskDefinition{Family: "web", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{c}}
}

// apply records a plan's placements as running tasks, as the FSM would.
func (v *view) apply(job Job, plan Plan) {
	for i, pl := range plan.Placements {
		v.byNode[pl.Node] = append(v.byNode[pl.Node], &structs.Task{ID: fmt.Sprintf("%s-%d-%d", job.Service, len(v.byNode[pl.Node]), i),
			Service: job.Service, Node: pl.Node, DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending,
			CPU: job.TaskDef.CPU(), MemoryMiB: job.TaskDef.MemoryMiB(), HostPorts: pl.HostPorts, GPUs: pl.GPUs})
	}
}

func nodesOf(plan Plan) []string {
	var out []string
	for _, p := range plan.Placements {
		out = append(out, p.Node)
	}
	return out
}

func TestPlace(t *testing.T) {
	cases := []struct {
		name     string
		view     *view
		job      Job
		want     []string
		failWant string // substring of the failure reason; "" for none
	}{
		{
			name: "binpack fills the fullest node that fits",
			view: newView(node("a", 1000, 1000), node("b", 1000, 300), node("c", 1000, 600)),
			job:  Job{Service: "web", TaskDef: def(10, 200), Count: 4},
			want: []string{"b", "c", "c", "c"},
		},
		{
			name: "spread on node round-robins",
			view: newView(node("a", 1000, 1000), node("b", 1000, 1000), node("c", 1000, 1000)),
			job:  Job{Service: "web", TaskDef: def(10, 10), Count: 4, Strategy: []structs.PlacementStrategy{{Type: "spread", Field: "node"}}},
			want: []string{"a", "b", "c", "a"},
		},
		{
			name: "spread over an attribute balances zones",
			view: newView(node("a", 1000, 1000, "zone=x"), node("b", 1000, 1000, "zone=x"), node("c", 1000, 1000, "zone=y")),
			job:  Job{Service: "web", TaskDef: def(10, 10), Count: 4, Strategy: []structs.PlacementStrategy{{Type: "spread", Field: "attribute:zone"}, {Type: "spread", Field: "node"}}},
			want: []string{"a", "c", "b", "c"},
		},
		{
			name:     "memberOf keeps tasks in a zone and explains the rest",
			view:     newView(node("a", 1000, 100, "zone=x"), node("b", 1000, 1000, "zone=y")),
			job:      Job{Service: "web", TaskDef: def(10, 60), Count: 2, Constraints: []structs.PlacementConstraint{{Type: "memberOf", Expression: "attribute:zone == x"}}},
			want:     []string{"a"},
			failWant: "0 of 2 nodes can run web:1 (cpu 10, memory 60 MiB): 1 node lack memory (need 60 MiB, most free 1000 MiB); 1 node excluded by constraint memberOf attribute:zone == x",
		},
		{
			name: "memberOf with != ",
			view: newView(node("a", 1000, 1000, "zone=x"), node("b", 1000, 1000, "zone=y")),
			job:  Job{Service: "web", TaskDef: def(10, 10), Count: 2, Constraints: []structs.PlacementConstraint{{Type: "memberOf", Expression: "attribute:zone != x"}}},
			want: []string{"b", "b"},
		},
		{
			name:     "distinctInstance puts one task per node",
			view:     newView(node("a", 1000, 1000), node("b", 1000, 1000)),
			job:      Job{Service: "web", TaskDef: def(10, 10), Count: 3, Constraints: []structs.PlacementConstraint{{Type: "distinctInstance"}}},
			want:     []string{"a", "b"},
			failWant: "2 nodes excluded by constraint distinctInstance",
		},
		{
			name:     "static host port is taken once per node",
			view:     newView(node("a", 1000, 1000), node("b", 1000, 1000)),
			job:      Job{Service: "web", TaskDef: def(10, 10, 8080), Count: 3},
			want:     []string{"a", "b"},
			failWant: "2 nodes: host port 8080 in use",
		},
		{
			name:     "dynamic ports run out",
			view:     newView(node("a", 1000, 1000)),
			job:      Job{Service: "web", TaskDef: def(1, 1, 0, 0, 0), Count: 4},
			want:     []string{"a", "a", "a"},
			failWant: "no free dynamic host port",
		},
		{
			name:     "a container without memory reserves the default, not nothing",
			view:     newView(node("a", 1000, 300)),
			job:      Job{Service: "web", TaskDef: def(10, 0), Count: 3},
			want:     []string{"a", "a"},
			failWant: "1 node lack memory (need 128 MiB, most free 44 MiB)",
		},
		{
			name: "memoryReservation is the cost when it is given",
			view: newView(node("a", 1000, 300)),
			job: Job{Service: "web", Count: 3, TaskDef: &structs.TaskDefinition{Family: "web", Revision: 1,
				ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "x", Memory: 512, MemoryReservation: 100}}}},
			want: []string{"a", "a", "a"},
		},
		{
			name:     "cpu is checked",
			view:     newView(node("a", 100, 1000)),
			job:      Job{Service: "web", TaskDef: def(60, 10), Count: 2},
			want:     []string{"a"},
			failWant: "1 node lack cpu (need 60 units, most free 40)",
		},
		{
			name:     "down and ineligible nodes are skipped",
			view:     newView(&structs.Node{ID: "a", CPU: 100, MemoryMiB: 100, Status: structs.NodeDown, Eligibility: structs.EligibilityEligible}, &structs.Node{ID: "b", CPU: 100, MemoryMiB: 100, Status: structs.NodeReady, Eligibility: structs.EligibilityIneligible}),
			job:      Job{Service: "web", TaskDef: def(1, 1), Count: 1},
			failWant: "1 node: node is down; 1 node: node is ineligible",
		},
		{
			name:     "no nodes",
			view:     newView(),
			job:      Job{Service: "web", TaskDef: def(1, 1), Count: 2},
			failWant: "no nodes are registered",
		},
		{
			name:     "unknown strategy is refused with the field",
			view:     newView(node("a", 1, 1)),
			job:      Job{Service: "web", TaskDef: def(1, 1), Count: 1, Strategy: []structs.PlacementStrategy{{Type: "binpack", Field: "disk"}}},
			failWant: `binpack field "disk": want memory or cpu`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := Place(tc.view, tc.job)
			if got := strings.Join(nodesOf(plan), ","); got != strings.Join(tc.want, ",") {
				t.Errorf("placed on %q, want %q", got, strings.Join(tc.want, ","))
			}
			switch {
			case tc.failWant == "" && plan.Failure != nil:
				t.Errorf("unexpected failure: %s", plan.Failure.String())
			case tc.failWant != "" && plan.Failure == nil:
				t.Errorf("want failure %q, got none", tc.failWant)
			case tc.failWant != "" && !strings.Contains(plan.Failure.String(), tc.failWant):
				t.Errorf("failure %q does not contain %q", plan.Failure.String(), tc.failWant)
			case plan.Failure != nil && plan.Failure.Count != tc.job.Count-len(tc.want):
				t.Errorf("failure count %d, want %d", plan.Failure.Count, tc.job.Count-len(tc.want))
			}
		})
	}
}

func TestDynamicPortsAreDistinctAndAvoidUsed(t *testing.T) {
	v := newView(node("a", 1000, 1000))
	v.byNode["a"] = []*structs.Task{{ID: "old", Node: "a", LastStatus: structs.StatusRunning, HostPorts: []int{20000, 20002}}}
	plan := Place(v, Job{Service: "web", TaskDef: def(1, 1, 0, 20001, 0), Count: 1})
	if plan.Failure != nil {
		t.Fatal(plan.Failure.String())
	}
	if got := fmt.Sprint(plan.Placements[0].HostPorts); got != "[20003 20001 20004]" {
		t.Fatalf("host ports %s", got)
	}
}

func TestReleasingTasksFreeResources(t *testing.T) {
	v := newView(node("a", 100, 100))
	v.byNode["a"] = []*structs.Task{{ID: "old", Service: "web", Node: "a", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusRunning, CPU: 100, MemoryMiB: 100}}
	if p := Place(v, Job{Service: "web", TaskDef: def(100, 100), Count: 1}); p.Failure == nil {
		t.Fatal("placed onto a full node")
	}
	if p := Place(v, Job{Service: "web", TaskDef: def(100, 100), Count: 1, Releasing: map[string]bool{"old": true}}); p.Failure != nil {
		t.Fatal(p.Failure.String())
	}
}

func TestRandomIsReproducible(t *testing.T) {
	v := newView(node("a", 1000, 1000), node("b", 1000, 1000), node("c", 1000, 1000))
	job := Job{Service: "web", TaskDef: def(1, 1), Count: 30, Strategy: []structs.PlacementStrategy{{Type: "random"}}, Seed: 7}
	a, b := nodesOf(Place(v, job)), nodesOf(Place(v, job))
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Fatal("same seed gave different plans")
	}
	seen := map[string]int{}
	for _, n := range a {
		seen[n]++
	}
	if len(seen) != 3 {
		t.Fatalf("random used only %v", seen)
	}
}

// TestPropertyNeverOvercommits places random jobs on random clusters and
// checks every node's resources, ports and the constraints afterwards. It
// also checks that every index picks what a full scan picks.
func TestPropertyNeverOvercommits(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	strategies := [][]structs.PlacementStrategy{nil, {{Type: "binpack", Field: "cpu"}}, {{Type: "spread", Field: "node"}}, {{Type: "random"}}, {{Type: "spread", Field: "attribute:zone"}, {Type: "binpack"}},
		{{Type: "spread", Field: "attribute:zone"}}, {{Type: "spread", Field: "attribute:zone"}, {Type: "spread", Field: "node"}}}
	for iter := 0; iter < 300; iter++ {
		v := newView()
		for i := 0; i < 1+rng.Intn(12); i++ {
			v.nodes = append(v.nodes, node(fmt.Sprintf("n%02d", i), int64(rng.Intn(2000)), int64(rng.Intn(4000)), fmt.Sprintf("zone=z%d", rng.Intn(3))))
		}
		for j := 0; j < 1+rng.Intn(6); j++ {
			var ports []int
			for k := 0; k < rng.Intn(3); k++ {
				ports = append(ports, []int{0, 0, 8080, 20001}[rng.Intn(4)])
			}
			if len(ports) == 2 && ports[0] == ports[1] && ports[0] != 0 {
				ports = ports[:1]
			}
			job := Job{Service: fmt.Sprintf("s%d", j%3), TaskDef: def(int64(rng.Intn(300)), int64(rng.Intn(600)), ports...), Count: rng.Intn(20), Strategy: strategies[rng.Intn(len(strategies))], Seed: uint64(iter)}
			if rng.Intn(3) == 0 {
				job.Constraints = append(job.Constraints, structs.PlacementConstraint{Type: "distinctInstance"})
			}
			if rng.Intn(3) == 0 {
				job.Constraints = append(job.Constraints, structs.PlacementConstraint{Type: "memberOf", Expression: "attribute:zone != z1"})
			}
			plan := Place(v, job)
			if len(plan.Placements)+failCount(plan) != job.Count {
				t.Fatalf("placed %d + failed %d != %d", len(plan.Placements), failCount(plan), job.Count)
			}
			if a, b := strings.Join(nodesOf(plan), ","), strings.Join(nodesOf(Place(v, scanned(job))), ","); a != b {
				t.Fatalf("%v: index %s != scan %s", job.Strategy, a, b)
			}
			for _, pl := range plan.Placements {
				for _, c := range job.Constraints {
					if c.Type == "memberOf" && nodeByID(v, pl.Node).Attributes["zone"] == "z1" {
						t.Fatalf("memberOf broken on %s", pl.Node)
					}
				}
			}
			checkDistinct(t, v, job, plan)
			v.apply(job, plan)
			checkView(t, v)
		}
	}
}

// scanned returns job with its last strategy named twice more, which
// changes no score but leaves the planner no index, so that it scans every
// node for every task.
func scanned(job Job) Job {
	s := job.Strategy
	if len(s) == 0 {
		s = []structs.PlacementStrategy{{Type: "binpack"}}
	}
	last := s[len(s)-1]
	job.Strategy = append(append([]structs.PlacementStrategy(nil), s...), last, last)
	return job
}

func failCount(p Plan) int {
	if p.Failure == nil {
		return 0
	}
	return p.Failure.Count
}

func nodeByID(v *view, id string) *structs.Node {
	for _, n := range v.nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// checkDistinct fails when a distinctInstance job put two tasks of its
// service on one node, counting the tasks already there.
func checkDistinct(t *testing.T, v *view, job Job, plan Plan) {
	t.Helper()
	for _, c := range job.Constraints {
		if c.Type != "distinctInstance" {
			continue
		}
		for _, pl := range plan.Placements {
			n := 0
			for _, task := range v.byNode[pl.Node] {
				if task.Service == job.Service {
					n++
				}
			}
			if n > 0 {
				t.Fatalf("distinctInstance broken: %s already runs %d tasks of %s", pl.Node, n, job.Service)
			}
		}
		seen := map[string]bool{}
		for _, pl := range plan.Placements {
			if seen[pl.Node] {
				t.Fatalf("distinctInstance broken: two placements on %s", pl.Node)
			}
			seen[pl.Node] = true
		}
	}
}

func checkView(t *testing.T, v *view) {
	t.Helper()
	for _, n := range v.nodes {
		var cpu, mem int64
		ports := map[int]bool{}
		for _, task := range v.byNode[n.ID] {
			cpu += task.CPU
			mem += task.MemoryMiB
			for _, p := range task.HostPorts {
				if ports[p] {
					t.Fatalf("port %d used twice on %s", p, n.ID)
				}
				ports[p] = true
			}
		}
		if cpu > n.CPU || mem > n.MemoryMiB {
			t.Fatalf("node %s over-committed: cpu %d/%d mem %d/%d", n.ID, cpu, n.CPU, mem, n.MemoryMiB)
		}
	}
}

// GPUs are whole and numbered: a task gets the lowest ones no other task
// of its node holds, nodes without enough are refused with the count, and
// a stopping task's GPUs count as free.
func TestPlaceGPUs(t *testing.T) {
	gpu := def(0, 16)
	gpu.ContainerDefinitions = append(gpu.ContainerDefinitions, structs.ContainerDefinition{Name: "cuda", Image: "x", Memory: 16,
		ResourceRequirements: []structs.ResourceRequirement{{Type: structs.ResourceGPU, Value: "2"}}})
	big := node("big", 4096, 4096)
	big.GPUs = 4
	small := node("small", 4096, 4096)
	small.GPUs = 1
	v := newView(big, small, node("none", 4096, 4096))
	v.byNode["big"] = []*structs.Task{{ID: "held", Node: "big", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusRunning, GPUs: []int{1}}}
	job := Job{Service: "ml", TaskDef: gpu, Count: 2}
	plan := Place(v, job)
	if len(plan.Placements) != 1 || plan.Placements[0].Node != "big" || fmt.Sprint(plan.Placements[0].GPUs) != "[0 2]" {
		t.Fatalf("placements %+v", plan.Placements)
	}
	if plan.Failure == nil || plan.Failure.Count != 1 {
		t.Fatalf("failure %+v", plan.Failure)
	}
	want := "3 nodes lack GPUs (need 2, most free 1)"
	if got := plan.Failure.String(); !strings.Contains(got, want) {
		t.Fatalf("failure %q, want it to say %q", got, want)
	}
	plan = Place(v, Job{Service: "ml", TaskDef: gpu, Count: 1, Releasing: map[string]bool{"held": true}})
	if len(plan.Placements) != 1 || fmt.Sprint(plan.Placements[0].GPUs) != "[0 1]" {
		t.Fatalf("with the holder stopping: %+v", plan.Placements)
	}
	if plan := Place(v, Job{Service: "web", TaskDef: def(0, 16), Count: 3}); len(plan.Placements) != 3 || plan.Placements[0].GPUs != nil {
		t.Fatalf("a task without GPUs: %+v", plan)
	}
}
