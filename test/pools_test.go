package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/command"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// memberCLI runs the command line against an in-process member, with the
// CA certificate and management token its data dir holds.
func memberCLI(t *testing.T, m *testcluster.Member, args ...string) (int, string, string) {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(m.Dir, agent.ManagementTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	full := append([]string{"skiff", "--addr", "https://" + m.HTTPAddr, "--cacert", filepath.Join(m.Dir, agent.CAFile),
		"--token", strings.TrimSpace(string(tok))}, args...)
	code := command.Run(full, &out, &errs)
	t.Logf("skiff %v: exit %d\n%s%s", args, code, out.String(), errs.String())
	return code, out.String(), errs.String()
}

func activeOf(st interface{ Tasks() []*structs.Task }) []*structs.Task {
	var out []*structs.Task
	for _, t := range st.Tasks() {
		if !t.Terminal() {
			out = append(out, t)
		}
	}
	return out
}

// run --node places one task on each node named, checked as any
// placement: a node without room refuses the whole run with the
// scheduler's reason, and nothing is placed anywhere.
func TestRunOnNodeWithoutRoomIsRefused(t *testing.T) {
	c := testcluster.New(t, 2, 2)
	m := c.Members[0]
	if code, _, _ := memberCLI(t, m, "run", "--memory", "3000", "--node", "n2", "job"); code != 0 {
		t.Fatalf("run on n2 with room: exit %d", code)
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		tasks := activeOf(m.Agent().State())
		return len(tasks) == 1, fmt.Sprintf("%d active tasks, want 1", len(tasks))
	})
	n2 := m.Agent().State().TasksByNode(c.Members[1].Agent().Health().Node)
	if len(n2) != 1 {
		t.Fatalf("n2 holds %d tasks, want the one run on it", len(n2))
	}
	code, _, errs := memberCLI(t, m, "run", "--memory", "2000", "--node", "n1,n2", "job")
	want := "unable to place 2 task(s) on node n2: 0 of 1 node can run job (cpu 0, memory 2000 MiB): 1 node lack memory (need 2000 MiB, most free 1096 MiB)"
	if code == 0 || !strings.Contains(errs, want) {
		t.Fatalf("run on a full node: exit %d, stderr %q; want a failure saying %q", code, errs, want)
	}
	code, _, errs = memberCLI(t, m, "run", "--node", "nowhere", "job")
	if code == 0 || !strings.Contains(errs, "node nowhere") {
		t.Fatalf("run on an unknown node: exit %d, stderr %q", code, errs)
	}
	code, _, errs = memberCLI(t, m, "run", "--node", "n1", "--count", "2", "job")
	if code == 0 || !strings.Contains(errs, "--node") {
		t.Fatalf("run with --node and --count: exit %d, stderr %q", code, errs)
	}
	testutil.AssertFor(t, time.Second, func() (bool, string) {
		tasks := activeOf(m.Agent().State())
		return len(tasks) == 1, fmt.Sprintf("%d active tasks after refused runs, want the first alone", len(tasks))
	})
	c.EnsureSame(t)
}

// Pools keep tasks apart: a service runs only on the nodes of its
// cluster, one-off tasks too, and every listing filters by --cluster and
// shows it in --json.
func TestPoolsKeepTasksApart(t *testing.T) {
	c := testcluster.NewTuned(t, 3, 3, func(cfg *agent.Config) {
		if cfg.Name == "n3" {
			cfg.Cluster = "garage"
		}
	})
	m := c.Members[0]
	ids := map[string]string{} // node id: member name
	for _, mm := range c.Members {
		ids[mm.Agent().Health().Node] = mm.Name
	}
	ctx := context.Background()
	web := `{"service":"web","desiredCount":4,"placementStrategy":[{"type":"spread"}],
	  "taskDefinition":{"family":"web","containerDefinitions":[{"name":"app","image":"web","memory":64}]}}`
	tools := `{"service":"tools","desiredCount":3,"cluster":"garage",
	  "taskDefinition":{"family":"tools","containerDefinitions":[{"name":"app","image":"tools","memory":64}]}}`
	probe := `{"service":"probe","schedulingStrategy":"DAEMON","cluster":"garage",
	  "taskDefinition":{"family":"probe","containerDefinitions":[{"name":"app","image":"probe","memory":16}]}}`
	attic := `{"service":"attic","desiredCount":1,"cluster":"attic",
	  "taskDefinition":{"family":"attic","containerDefinitions":[{"name":"app","image":"attic","memory":64}]}}`
	for name, file := range map[string]string{"web": web, "tools": tools, "probe": probe, "attic": attic} {
		if err := c.Write(ctx, 0, name, []byte(file), 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, _ := memberCLI(t, m, "run", "--cluster", "garage", "job"); code != 0 {
		t.Fatalf("run in garage: exit %d", code)
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		by := map[string][]string{}
		for _, task := range activeOf(m.Agent().State()) {
			by[task.Service] = append(by[task.Service], ids[task.Node])
		}
		return len(by["web"]) == 4 && len(by["tools"]) == 3 && len(by["probe"]) == 1 && len(by[""]) == 1, fmt.Sprintf("tasks by service: %v", by)
	})
	for _, task := range activeOf(m.Agent().State()) {
		inGarage := ids[task.Node] == "n3"
		if inGarage != (task.Service != "web") || structs.ClusterName(task.Cluster) != map[bool]string{true: "garage", false: "default"}[inGarage] {
			t.Errorf("task %s of %q (cluster %q) on %s", task.ID, task.Service, task.Cluster, ids[task.Node])
		}
	}
	svc := m.Agent().State().Service("attic")
	if svc == nil || !strings.Contains(svc.PlacementFailure.String(), "no nodes are registered in cluster attic") {
		t.Fatalf("service in an empty pool: %+v", svc)
	}

	code, out, _ := memberCLI(t, m, "ps", "--cluster", "garage", "--json")
	var tasks []structs.Task
	if err := json.Unmarshal([]byte(out), &tasks); code != 0 || err != nil || len(tasks) != 5 {
		t.Fatalf("ps --cluster garage: exit %d, %d tasks (%v): want the 3 of tools, the daemon's and the one-off", code, len(tasks), err)
	}
	for _, task := range tasks {
		if task.Cluster != "garage" {
			t.Errorf("ps --cluster garage listed %s of cluster %q", task.ID, task.Cluster)
		}
	}
	code, out, _ = memberCLI(t, m, "nodes", "--cluster", "garage", "--json")
	var nodes []structs.Node
	if err := json.Unmarshal([]byte(out), &nodes); code != 0 || err != nil || len(nodes) != 1 || nodes[0].Name != "n3" || nodes[0].Cluster != "garage" {
		t.Fatalf("nodes --cluster garage: exit %d, %+v (%v)", code, nodes, err)
	}
	code, out, _ = memberCLI(t, m, "services", "--cluster", "default", "--json")
	var svcs []structs.Service
	if err := json.Unmarshal([]byte(out), &svcs); code != 0 || err != nil || len(svcs) != 1 || svcs[0].Name != "web" || svcs[0].Cluster != "default" {
		t.Fatalf("services --cluster default: exit %d, %+v (%v)", code, svcs, err)
	}
	code, out, _ = memberCLI(t, m, "services", "--cluster", "garage", "--json")
	var garage []struct {
		Name         string `json:"name"`
		DesiredCount int    `json:"desiredCount"`
	}
	if err := json.Unmarshal([]byte(out), &garage); code != 0 || err != nil || len(garage) != 2 {
		t.Fatalf("services --cluster garage: exit %d, %+v (%v): want tools and probe", code, garage, err)
	}
	for _, g := range garage {
		if g.Name == "probe" && g.DesiredCount != 1 {
			t.Errorf("the garage daemon wants %d tasks, want 1: the one node of its pool", g.DesiredCount)
		}
	}
	code, _, errs := memberCLI(t, m, "run", "--cluster", "garage", "--node", "n1", "job")
	if code == 0 || !strings.Contains(errs, "node n1 is in cluster default, the task runs in cluster garage") {
		t.Fatalf("run in garage on n1: exit %d, stderr %q", code, errs)
	}
	code, _, errs = memberCLI(t, m, "ps", "--cluster", "not a name")
	if code == 0 || !strings.Contains(errs, "cluster") {
		t.Fatalf("ps with a bad cluster: exit %d, stderr %q", code, errs)
	}
	c.EnsureSame(t)
}
