package runtime

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/google/uuid"

	"github.com/skiff-run/skiff/internal/dockertest"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

var testapp = &dockertest.Image{Tag: "skiff-testapp:latest", Pkg: "../test/testapp", Bin: "testapp", Tail: `CMD ["/testapp", "serve"]`}

// newDocker returns the Docker runtime on the local engine and a node id
// of the test's own, whose containers and networks are removed when the
// test ends.
func newDocker(t *testing.T) (*Docker, string) {
	dockertest.Client(t)
	testapp.Build(t)
	d, err := NewDocker()
	if err != nil {
		t.Fatal(err)
	}
	d.PullTimeout, d.DependencyTimeout = 10*time.Second, 30*time.Second
	node := "runtime-test-" + uuid.NewString()[:8]
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if obs, err := d.List(ctx, node); err == nil {
			for _, o := range obs {
				_ = d.Remove(ctx, node, o.TaskID)
			}
		}
		// Networks too, should a test fail with one no container uses.
		if nets, err := d.cli.NetworkList(ctx, network.ListOptions{Filters: taskFilter(node, "")}); err == nil {
			for _, n := range nets {
				_ = d.cli.NetworkRemove(ctx, n.ID)
			}
		}
		d.Close()
	})
	return d, node
}

func observed(t *testing.T, d *Docker, node, taskID string) []structs.ContainerState {
	t.Helper()
	obs, err := d.List(context.Background(), node)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range obs {
		if o.TaskID == taskID {
			return o.Containers
		}
	}
	return nil
}

// TestDockerTaskLifecycle runs a two-container task on the engine: the
// second container waits until the first is healthy and reaches it by
// name on the task's network; List, Logs, Stop and Remove see and handle
// both, and Changes announces what happens.
func TestDockerTaskLifecycle(t *testing.T) {
	d, node := newDocker(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := d.Changes(ctx, node)
	select {
	case <-changes: // the stream's beginning
	case <-time.After(10 * time.Second):
		t.Fatal("the beginning of the event stream was not announced")
	}
	def := &structs.TaskDefinition{Family: "pair", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "db", Image: "skiff-testapp:latest", Memory: 32, Command: []string{"/testapp", "serve"},
			HealthCheck: &structs.HealthCheck{Command: []string{"CMD", "/testapp", "probe"}, Interval: 1, Timeout: 1, Retries: 3}},
		{Name: "web", Image: "skiff-testapp:latest", Memory: 32, Command: []string{"/testapp", "serve", "-upstream", "http://db:8080/health"},
			DependsOn: []structs.ContainerDependency{{ContainerName: "db", Condition: "HEALTHY"}}},
	}}
	task := &structs.Task{ID: uuid.NewString(), Service: "pair", TaskDefinition: "pair:1", Node: node}
	if err := d.Start(ctx, TaskSpec{Task: task, Def: def, Node: node}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
	case <-time.After(10 * time.Second):
		t.Fatal("no change announced after a start")
	}
	cs := observed(t, d, node, task.ID)
	if status, reason := TaskStatus(def, cs); status != structs.StatusRunning {
		t.Fatalf("task %s (%s): %+v", status, reason, cs)
	}
	var out strings.Builder
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		out.Reset()
		err := d.Logs(ctx, node, task.ID, "web", structs.LogOptions{Tail: structs.AllLines}, &out)
		return err == nil && strings.Contains(out.String(), "upstream ready: http://db:8080/health"), out.String()
	})
	// Once the task has settled, its health check's probes (an exec a
	// second) announce nothing: only changes of state wake the agent.
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		cs := observed(t, d, node, task.ID)
		for _, c := range cs {
			if c.Name == "db" && c.Health == "healthy" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("db not healthy: %+v", cs)
	})
	time.Sleep(500 * time.Millisecond)
	for drained := false; !drained; {
		select {
		case <-changes:
		default:
			drained = true
		}
	}
	testutil.AssertFor(t, 2500*time.Millisecond, func() (bool, string) {
		select {
		case <-changes:
			return false, "a change announced while only health probes ran"
		default:
			return true, ""
		}
	})
	if err := d.Stop(ctx, node, task.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	for _, c := range observed(t, d, node, task.ID) {
		if c.Status == StateRunning {
			t.Fatalf("container %s still runs after Stop", c.Name)
		}
	}
	if err := d.Remove(ctx, node, task.ID); err != nil {
		t.Fatal(err)
	}
	if cs := observed(t, d, node, task.ID); cs != nil {
		t.Fatalf("containers left after Remove: %+v", cs)
	}
}

// TestDockerFailures: an image the engine does not have and cannot pull,
// and a dependency that exits before it is healthy, each fail the start
// with a reason a person can act on.
func TestDockerFailures(t *testing.T) {
	d, node := newDocker(t)
	ctx := context.Background()
	missing := &structs.TaskDefinition{Family: "m", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "skiff-no-such-image:1"}}}
	err := d.Start(ctx, TaskSpec{Task: &structs.Task{ID: uuid.NewString(), Node: node}, Def: missing, Node: node})
	if err == nil || !strings.Contains(err.Error(), "not found locally and pull failed") {
		t.Fatalf("missing image: %v", err)
	}
	early := &structs.TaskDefinition{Family: "e", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "db", Image: "skiff-testapp:latest", Command: []string{"/testapp", "serve", "-exit-after", "100ms", "-exit-code", "3"},
			HealthCheck: &structs.HealthCheck{Command: []string{"CMD", "/testapp", "probe"}, Interval: 5, Retries: 3}},
		{Name: "web", Image: "skiff-testapp:latest", DependsOn: []structs.ContainerDependency{{ContainerName: "db", Condition: "HEALTHY"}}},
	}}
	err = d.Start(ctx, TaskSpec{Task: &structs.Task{ID: uuid.NewString(), Node: node}, Def: early, Node: node})
	if err == nil || !strings.Contains(err.Error(), "dependency db exited before it was healthy") {
		t.Fatalf("dependency that exits: %v", err)
	}
}

// networksOf lists the names of the networks labelled with the node and,
// if taskID is set, the task.
func networksOf(t *testing.T, d *Docker, node, taskID string) []string {
	t.Helper()
	nets, err := d.cli.NetworkList(context.Background(), network.ListOptions{Filters: taskFilter(node, taskID)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range nets {
		out = append(out, n.Name)
	}
	return out
}

// pair is a two-container task, so that it gets a network of its own.
func pair(first, second structs.ContainerDefinition) *structs.TaskDefinition {
	first.Image, second.Image = "skiff-testapp:latest", "skiff-testapp:latest"
	return &structs.TaskDefinition{Family: "pair", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{first, second}}
}

// A start that fails after the task's network was made, before any
// container or while none runs, removes the network: a crash-looping
// service would otherwise leak one per try until the engine's address
// pools run out.
func TestDockerFailedStartLeavesNoNetwork(t *testing.T) {
	d, node := newDocker(t)
	ctx := context.Background()
	for name, def := range map[string]*structs.TaskDefinition{
		// The engine refuses to create the first container.
		"create fails": pair(structs.ContainerDefinition{Name: "db", WorkingDirectory: "relative"}, structs.ContainerDefinition{Name: "web"}),
		// The first container runs, exits, and the second never starts.
		"dependency fails": pair(
			structs.ContainerDefinition{Name: "db", Command: []string{"/testapp", "serve", "-exit-after", "100ms", "-exit-code", "3"},
				HealthCheck: &structs.HealthCheck{Command: []string{"CMD", "/testapp", "probe"}, Interval: 5, Retries: 3}},
			structs.ContainerDefinition{Name: "web", DependsOn: []structs.ContainerDependency{{ContainerName: "db", Condition: "HEALTHY"}}}),
	} {
		t.Run(name, func(t *testing.T) {
			task := &structs.Task{ID: uuid.NewString(), Service: "pair", Node: node}
			if err := d.Start(ctx, TaskSpec{Task: task, Def: def, Node: node}); err == nil {
				t.Fatal("start succeeded")
			}
			if nets := networksOf(t, d, node, task.ID); len(nets) != 0 {
				t.Fatalf("networks left after a failed start: %v", nets)
			}
		})
	}
}

// Starting a task again, after a start that was cut short or one that
// completed, reuses what runs and replaces what does not, instead of
// failing on a network or container that already exists; List removes
// the network of a task none of whose containers runs.
func TestDockerStartIsIdempotent(t *testing.T) {
	d, node := newDocker(t)
	ctx := context.Background()
	def := pair(structs.ContainerDefinition{Name: "db", Command: []string{"/testapp", "serve"}},
		structs.ContainerDefinition{Name: "web", Command: []string{"/testapp", "serve"}})
	task := &structs.Task{ID: uuid.NewString(), Service: "pair", Node: node}
	spec := TaskSpec{Task: task, Def: def, Node: node}
	// What a start interrupted right after it made the network leaves.
	labels := map[string]string{LabelNode: node, LabelTask: task.ID, LabelService: "pair"}
	if _, err := d.cli.NetworkCreate(ctx, NetworkName(task.ID), network.CreateOptions{Driver: "bridge", Labels: labels}); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, spec); err != nil {
		t.Fatalf("start over a leftover network: %v", err)
	}
	first := observed(t, d, node, task.ID)
	if err := d.Start(ctx, spec); err != nil {
		t.Fatalf("second start: %v", err)
	}
	again := observed(t, d, node, task.ID)
	if len(again) != 2 || again[0].DockerID != first[0].DockerID || again[1].DockerID != first[1].DockerID {
		t.Fatalf("running containers were not reused: %+v then %+v", first, again)
	}
	if err := d.Stop(ctx, node, task.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	observed(t, d, node, task.ID)
	if nets := networksOf(t, d, node, task.ID); len(nets) != 0 {
		t.Fatalf("network of a stopped task left after List: %v", nets)
	}
	// A start over stopped containers replaces them, on a new network.
	if err := d.Start(ctx, spec); err != nil {
		t.Fatalf("start over stopped containers: %v", err)
	}
	cs := observed(t, d, node, task.ID)
	if status, reason := TaskStatus(def, cs); status != structs.StatusRunning || cs[0].DockerID == first[0].DockerID {
		t.Fatalf("after a start over stopped containers: %s (%s) %+v", status, reason, cs)
	}
	if nets := networksOf(t, d, node, task.ID); len(nets) != 1 {
		t.Fatalf("networks of a running task: %v", nets)
	}
}

// A container that carries the node's label but no task's is none of
// skiff's tasks: List leaves it out, and an empty task id, which would
// select every container of the node, is refused.
func TestDockerUnlabelledContainer(t *testing.T) {
	d, node := newDocker(t)
	ctx := context.Background()
	created, err := d.cli.ContainerCreate(ctx, &container.Config{Image: "skiff-testapp:latest", Labels: map[string]string{LabelNode: node}},
		nil, nil, nil, "skiff-unlabelled-"+node)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	})
	obs, err := d.List(ctx, node)
	if err != nil || len(obs) != 0 {
		t.Fatalf("List: %+v %v", obs, err)
	}
	if err := d.Remove(ctx, node, ""); err == nil {
		t.Fatal("Remove with an empty task id succeeded")
	}
	if err := d.Stop(ctx, node, "", time.Second); err == nil {
		t.Fatal("Stop with an empty task id succeeded")
	}
	if _, err := d.cli.ContainerInspect(ctx, created.ID); err != nil {
		t.Fatalf("the unlabelled container is gone: %v", err)
	}
}

// A started container carries its bounds: the memory limit and
// reservation, the default reservation where the definition gives none,
// the PID limit and rotated logs.
func TestDockerContainerBounds(t *testing.T) {
	d, node := newDocker(t)
	ctx := context.Background()
	def := pair(structs.ContainerDefinition{Name: "bounded", Command: []string{"/testapp", "serve"}, Memory: 64, MemoryReservation: 32, PidsLimit: 100,
		LogConfiguration: &structs.LogConfiguration{LogDriver: "json-file", Options: map[string]string{"max-size": "1m"}}},
		structs.ContainerDefinition{Name: "plain", Command: []string{"/testapp", "serve"}})
	task := &structs.Task{ID: uuid.NewString(), Service: "pair", Node: node}
	if err := d.Start(ctx, TaskSpec{Task: task, Def: def, Node: node}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		name                string
		memory, reservation int64
		pids                int64
		maxSize             string
	}{
		{"bounded", 64 << 20, 32 << 20, 100, "1m"},
		{"plain", 0, structs.DefaultMemoryReservationMiB << 20, structs.DefaultPidsLimit, "10m"},
	} {
		info, err := d.cli.ContainerInspect(ctx, ContainerName(task.ID, want.name))
		if err != nil {
			t.Fatal(err)
		}
		hc := info.HostConfig
		if hc.Memory != want.memory || hc.MemoryReservation != want.reservation || hc.PidsLimit == nil || *hc.PidsLimit != want.pids {
			t.Errorf("%s: memory %d, reservation %d, pids %v; want %d, %d, %d", want.name, hc.Memory, hc.MemoryReservation, hc.PidsLimit,
				want.memory, want.reservation, want.pids)
		}
		if lc := hc.LogConfig; lc.Type != "json-file" || lc.Config["max-size"] != want.maxSize || lc.Config["max-file"] != "3" {
			t.Errorf("%s: log config %+v", want.name, lc)
		}
	}
}

// countingTransport counts the engine requests by method and path.
type countingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// count tells how many requests were made of the method to a path that
// contains part.
func (c *countingTransport) count(method, part string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.reqs {
		if strings.HasPrefix(r, method+" ") && strings.Contains(r, part) {
			n++
		}
	}
	return n
}

// containerInspections counts the requests that inspected a container:
// GET /containers/{id}/json, which a listing (GET /containers/json) is not.
func (c *countingTransport) containerInspections() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.reqs {
		if strings.HasPrefix(r, "GET ") && strings.Contains(r, "/containers/") && strings.HasSuffix(r, "/json") && !strings.HasSuffix(r, "/containers/json") {
			n++
		}
	}
	return n
}

// counted makes d send its requests through a countingTransport.
func counted(t *testing.T, d *Docker) *countingTransport {
	hc := d.cli.HTTPClient()
	ct := &countingTransport{next: hc.Transport}
	hc.Transport = ct
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithHTTPClient(hc), client.WithVersion(d.cli.ClientVersion()))
	if err != nil {
		t.Fatal(err)
	}
	old := d.cli
	d.cli = cli
	t.Cleanup(func() { old.Close() })
	return ct
}

// Fresh starts of tasks of one image cost the engine a create and a start
// each, and the image one inspection on the node: no inspection per task,
// and no look for a container by name that cannot be there yet. An image
// that goes after it was seen is looked for again.
func TestDockerStartsAskLittleOfTheEngine(t *testing.T) {
	d, node := newDocker(t)
	ctx := context.Background()
	ct := counted(t, d)
	ref := "skiff-testapp:runtime-test-" + node
	if err := d.cli.ImageTag(ctx, "skiff-testapp:latest", ref); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = d.cli.ImageRemove(context.Background(), ref, image.RemoveOptions{}) })
	def := &structs.TaskDefinition{Family: "one", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "app", Image: ref, Command: []string{"/testapp", "serve"}}}}
	var ids []string
	for range 3 {
		task := &structs.Task{ID: uuid.NewString(), Service: "one", Node: node}
		if err := d.Start(ctx, TaskSpec{Task: task, Def: def, Node: node}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, task.ID)
	}
	if n := ct.count("GET", "/images/"); n != 1 {
		t.Errorf("%d image inspections for three tasks of one image", n)
	}
	if n := ct.count("GET", "/containers/skiff-"); n != 0 {
		t.Errorf("%d looks for a container by name in fresh starts", n)
	}
	if c, s := ct.count("POST", "/containers/create"), ct.count("POST", "/start"); c != 3 || s != 3 {
		t.Errorf("%d creates and %d starts for three tasks", c, s)
	}
	for _, id := range ids {
		if err := d.Remove(ctx, node, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.cli.ImageRemove(ctx, ref, image.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	err := d.Start(ctx, TaskSpec{Task: &structs.Task{ID: uuid.NewString(), Service: "one", Node: node}, Def: def, Node: node})
	if err == nil || !strings.Contains(err.Error(), "not found locally and pull failed") {
		t.Fatalf("start after the image went: %v", err)
	}
}

// A stopped task's containers are inspected once for their exit codes,
// not at every List, which runs every few seconds for as long as the task
// is kept for its history, and many times a second while a node stops
// many tasks. A container started again and exited anew is read again.
func TestDockerListInspectsAnExitedContainerOnce(t *testing.T) {
	d, node := newDocker(t)
	ctx := context.Background()
	ct := counted(t, d)
	def := &structs.TaskDefinition{Family: "one", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "app", Image: "skiff-testapp:latest", Command: []string{"/testapp", "serve"}}}}
	task := &structs.Task{ID: uuid.NewString(), Service: "one", Node: node}
	if err := d.Start(ctx, TaskSpec{Task: task, Def: def, Node: node}); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(ctx, node, task.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	exitCode := func() int {
		t.Helper()
		cs := observed(t, d, node, task.ID)
		if len(cs) != 1 || cs[0].Status != StateExited || cs[0].ExitCode == nil {
			t.Fatalf("after the stop: %+v", cs)
		}
		return *cs[0].ExitCode
	}
	before := ct.containerInspections()
	first := exitCode()
	for range 3 {
		if got := exitCode(); got != first {
			t.Fatalf("exit code %d, then %d", first, got)
		}
	}
	if n := ct.containerInspections() - before; n != 1 {
		t.Errorf("%d inspections of one exited container in four listings", n)
	}
	name := ContainerName(task.ID, "app")
	// Started again by hand, it exits with another code.
	if err := d.cli.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := d.cli.ContainerKill(ctx, name, "KILL"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		cs := observed(t, d, node, task.ID)
		return len(cs) == 1 && cs[0].Status == StateExited, "waiting for the container to exit again"
	})
	if got := exitCode(); got != 137 {
		t.Fatalf("exit code after a kill: %d, want 137", got)
	}
}
