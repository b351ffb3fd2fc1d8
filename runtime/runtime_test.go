package runtime

import (
	"context"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

func no() *bool { f := false; return &f }

func TestTaskStatus(t *testing.T) {
	def := &structs.TaskDefinition{Family: "f", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "app"}, {Name: "sidecar", Essential: no()},
	}}
	code := func(n int) *int { return &n }
	cases := []struct {
		cs        []structs.ContainerState
		want, why string
	}{
		{nil, structs.StatusPending, ""},
		{[]structs.ContainerState{{Name: "app", Status: StateCreated}}, structs.StatusPending, ""},
		{[]structs.ContainerState{{Name: "app", Status: StateRunning}}, structs.StatusRunning, ""},
		{[]structs.ContainerState{{Name: "app", Status: StateRunning}, {Name: "sidecar", Status: StateExited, ExitCode: code(1)}}, structs.StatusRunning, ""},
		{[]structs.ContainerState{{Name: "app", Status: StateExited, ExitCode: code(3)}}, structs.StatusStopped, "essential container app exited with code 3"},
		{[]structs.ContainerState{{Name: "app", Status: StateRunning, Health: "unhealthy"}}, structs.StatusStopped, "essential container app is unhealthy"},
	}
	for i, c := range cases {
		got, why := TaskStatus(def, c.cs)
		if got != c.want || why != c.why {
			t.Errorf("case %d: got %s %q, want %s %q", i, got, why, c.want, c.why)
		}
	}
}

func TestStartOrder(t *testing.T) {
	def := &structs.TaskDefinition{ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "web", DependsOn: []structs.ContainerDependency{{ContainerName: "db", Condition: "HEALTHY"}}, Links: []string{"cache:redis"}},
		{Name: "cache"},
		{Name: "db"},
	}}
	order, err := structs.StartOrder(def)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range order {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "db,cache,web" {
		t.Fatalf("order %s", got)
	}
	def.ContainerDefinitions[2].DependsOn = []structs.ContainerDependency{{ContainerName: "web"}}
	if _, err := structs.StartOrder(def); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("cycle not reported: %v", err)
	}
}

func TestFakeLifecycle(t *testing.T) {
	f := NewFake()
	ctx := context.Background()
	def := &structs.TaskDefinition{Family: "f", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img"}}}
	if err := f.Start(ctx, TaskSpec{Task: &structs.Task{ID: "t1"}, Def: def, Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	if obs, _ := f.List(ctx, "n2"); len(obs) != 0 {
		t.Fatal("another node sees n1's task")
	}
	f.Exit("t1", "app", 2)
	obs, _ := f.List(ctx, "n1")
	if st, why := TaskStatus(def, obs[0].Containers); st != structs.StatusStopped || !strings.Contains(why, "code 2") {
		t.Fatalf("after exit: %s %s", st, why)
	}
	// An empty task id would select every task of the node.
	if err := f.Remove(ctx, "n1", ""); err == nil {
		t.Fatal("Remove with an empty task id succeeded")
	}
	if err := f.Stop(ctx, "n1", "", 0); err == nil {
		t.Fatal("Stop with an empty task id succeeded")
	}
	f.MissingImage("img")
	if err := f.Start(ctx, TaskSpec{Task: &structs.Task{ID: "t2"}, Def: def, Node: "n1"}); err == nil || !strings.Contains(err.Error(), "pull failed") {
		t.Fatalf("missing image: %v", err)
	}
}
