package test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/internal/dockertest"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// engineCluster is two in-process agents on real engines: n1 runs its
// containers on a private daemon the test stops and starts, n2 on the
// shared engine.
type engineCluster struct {
	*testcluster.Cluster
	private *dockertest.Engine
	shared  *client.Client
	// n1 and n2 are the agents' node ids.
	n1, n2 string
}

// startEngineCluster starts the private daemon and the two agents. n1
// re-reads its engine every resync (0: the cluster's usual 200 ms), which
// sets how long an outage it rides out unnoticed: three failed listings
// in a row mark its node down. Every container either agent made is
// removed when the test ends.
func startEngineCluster(t *testing.T, opts dockertest.EngineOptions, resync time.Duration) *engineCluster {
	shared := dockertest.Client(t)
	private := dockertest.PrivateEngine(t, opts)
	buildTestImage(t)
	testappImage.BuildOn(t, private.Host)
	rts := map[string]*runtime.Docker{}
	for name, host := range map[string]string{"n1": private.Host, "n2": ""} {
		rt, err := runtime.NewDockerAt(host)
		if err != nil {
			t.Fatal(err)
		}
		rts[name] = rt
	}
	// Cleanups run last first: the shared engine's containers are
	// removed, and the clients closed, after the agents have stopped.
	var ids []string
	t.Cleanup(func() {
		for _, id := range ids {
			cleanupNode(shared, id)
		}
		for _, rt := range rts {
			rt.Close()
		}
	})
	c := testcluster.NewTuned(t, 2, 2, func(cfg *agent.Config) {
		cfg.Runtime = rts[cfg.Name]
		if cfg.Name == "n1" && resync > 0 {
			cfg.Resync = resync
		}
	})
	ec := &engineCluster{Cluster: c, private: private, shared: shared, n1: c.Members[0].Agent().ID(), n2: c.Members[1].Agent().ID()}
	ids = append(ids, ec.n1, ec.n2)
	return ec
}

// runningOn maps the task ids of svc's running containers on an engine to
// the number of containers each has there.
func runningOn(t *testing.T, cli *client.Client, svc string) map[string]int {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", runtime.LabelService+"="+svc), filters.Arg("status", "running"))
	list, err := cli.ContainerList(context.Background(), container.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, c := range list {
		out[c.Labels[runtime.LabelTask]]++
	}
	return out
}

// tasks returns the service's tasks from the leader's API, STOPPED and
// LOST ones included.
func (ec *engineCluster) tasks(t *testing.T, svc string) []*structs.Task {
	t.Helper()
	ts, err := ec.Leader().Client().Tasks(context.Background(), svc, true)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// node returns a node as the leader's API shows it.
func (ec *engineCluster) node(t *testing.T, id string) *structs.Node {
	t.Helper()
	nodes, err := ec.Leader().Client().Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.ID == id {
			return n
		}
	}
	t.Fatalf("node %s is not in the API's list", id)
	return nil
}

// settled checks the service against both engines, through the API and
// docker ps: want tasks RUNNING, perNode of them on each node named there,
// every one with its container running on its own node's engine and on
// no other, and no other container of the service running anywhere. The
// private engine is read only while it answers (up).
func (ec *engineCluster) settled(t *testing.T, svc string, want int, perNode map[string]int, up bool) (bool, string) {
	t.Helper()
	engines := map[string]map[string]int{ec.n2: runningOn(t, ec.shared, svc)}
	if up {
		engines[ec.n1] = runningOn(t, ec.private.Client, svc)
	}
	onNode := map[string]int{}
	accounted := 0
	for _, task := range ec.tasks(t, svc) {
		if task.DesiredStatus != structs.StatusRunning || task.LastStatus != structs.StatusRunning {
			continue
		}
		onNode[task.Node]++
		for node, run := range engines {
			switch {
			case node == task.Node && run[task.ID] != 1:
				return false, fmt.Sprintf("task %s is RUNNING on %s, whose engine runs %d containers of it", task.ID, node, run[task.ID])
			case node != task.Node && run[task.ID] != 0:
				return false, fmt.Sprintf("task %s of %s also runs on %s's engine", task.ID, task.Node, node)
			}
		}
		accounted++
	}
	total := 0
	for _, run := range engines {
		for _, n := range run {
			total += n
		}
	}
	if total != accounted {
		return false, fmt.Sprintf("the engines run %d containers of %s, for %d RUNNING tasks", total, svc, accounted)
	}
	for node, n := range perNode {
		if onNode[node] != n {
			return false, fmt.Sprintf("%d RUNNING tasks on %s, want %d (by node: %v)", onNode[node], node, n, onNode)
		}
	}
	return accounted == want, fmt.Sprintf("%d RUNNING tasks, want %d", accounted, want)
}

// taskIDs returns the ids of node's tasks whose last status is one of
// statuses, sorted.
func taskIDs(ts []*structs.Task, node string, statuses ...string) []string {
	var out []string
	for _, t := range ts {
		if t.Node == node && slices.Contains(statuses, t.LastStatus) {
			out = append(out, t.ID)
		}
	}
	sort.Strings(out)
	return out
}

// ended reports whether every one of ids is among the service's tasks and
// STOPPED or LOST, and no task of it on node is anything else.
func ended(ts []*structs.Task, node string, ids []string) (bool, string) {
	if live := taskIDs(ts, node, structs.StatusPending, structs.StatusRunning); len(live) > 0 {
		return false, fmt.Sprintf("tasks still PENDING or RUNNING on the node: %v", live)
	}
	done := taskIDs(ts, node, structs.StatusStopped, structs.StatusLost)
	for _, id := range ids {
		if !slices.Contains(done, id) {
			return false, fmt.Sprintf("task %s is gone from the list, or neither STOPPED nor LOST", id)
		}
	}
	return true, ""
}

// waitEngineDown waits until the leader has marked n1 down for its engine,
// the tasks it ran have ended, and the service runs want tasks on n2.
func (ec *engineCluster) waitEngineDown(t *testing.T, svc string, ran []string, want int) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		n := ec.node(t, ec.n1)
		if n.Status != structs.NodeDown || !strings.Contains(n.StatusReason, "container engine") ||
			!strings.Contains(n.EngineError, "Cannot connect to the Docker daemon") {
			return false, fmt.Sprintf("node n1 is %s (%q), engine error %q", n.Status, n.StatusReason, n.EngineError)
		}
		if ok, why := ended(ec.tasks(t, svc), ec.n1, ran); !ok {
			return false, why
		}
		return ec.settled(t, svc, want, map[string]int{ec.n2: want}, false)
	})
}

// TestDockerEngineOutage stops the Docker daemon under a running agent, as
// a host's service manager does, and starts it again. The daemon stops its
// containers as it goes, so the agent's tasks end STOPPED, or LOST when
// the engine was gone before the agent saw them exit. While it is down
// the node is marked down with the engine's error as the reason and the
// service runs on the other node; with it back the node is ready and takes
// new tasks, no container of an ended task runs, and no task runs twice.
func TestDockerEngineOutage(t *testing.T) {
	ec := startEngineCluster(t, dockertest.EngineOptions{}, 0)
	ctx := context.Background()
	if _, err := ec.Leader().Client().ApplyService(ctx, "web", svcFile("web", 4, testImage)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		return ec.settled(t, "web", 4, map[string]int{ec.n1: 2, ec.n2: 2}, true)
	})
	ran := taskIDs(ec.tasks(t, "web"), ec.n1, structs.StatusRunning)

	start := time.Now()
	ec.private.Stop()
	ec.waitEngineDown(t, "web", ran, 4)
	t.Logf("node down and the service whole on n2 %s after the daemon was told to stop", time.Since(start).Round(10*time.Millisecond))

	start = time.Now()
	ec.private.Start()
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		if n := ec.node(t, ec.n1); n.Status != structs.NodeReady || n.EngineError != "" || n.Eligibility != structs.EligibilityEligible {
			return false, fmt.Sprintf("node n1 is %s (%q), %s, engine error %q", n.Status, n.StatusReason, n.Eligibility, n.EngineError)
		}
		return ec.settled(t, "web", 4, map[string]int{ec.n2: 4}, true)
	})
	t.Logf("node ready again %s after the daemon was started", time.Since(start).Round(10*time.Millisecond))
	// The node takes work again: spread puts the next two tasks on it,
	// on the restarted engine.
	if _, err := ec.Leader().Client().Scale(ctx, "web", 6); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		return ec.settled(t, "web", 6, map[string]int{ec.n1: 2, ec.n2: 4}, true)
	})
	testutil.AssertFor(t, 2*time.Second, func() (bool, string) {
		return ec.settled(t, "web", 6, map[string]int{ec.n1: 2, ec.n2: 4}, true)
	})
	ec.EnsureSame(t)
}

// runningContainers returns the ids of svc's running containers on an
// engine, sorted.
func runningContainers(t *testing.T, cli *client.Client, svc string) []string {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", runtime.LabelService+"="+svc), filters.Arg("status", "running"))
	list, err := cli.ContainerList(context.Background(), container.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range list {
		out = append(out, c.ID)
	}
	sort.Strings(out)
	return out
}

// TestDockerEngineLiveRestore restarts a daemon with live restore under a
// running agent. Restarted quickly, within the agent's three listings in
// a row that fail, nothing moves: the same containers keep running, the agent adopts them,
// and the service keeps its tasks. Stopped for longer, the node is marked
// down and its tasks LOST while their containers keep running; when the
// daemon is back the agent stops them, so that the service again runs
// exactly its count, each task once.
func TestDockerEngineLiveRestore(t *testing.T) {
	// Three listings of n1 take at least 6 s, longer than a quick restart.
	const resync = 3 * time.Second
	ec := startEngineCluster(t, dockertest.EngineOptions{LiveRestore: true}, resync)
	ctx := context.Background()
	if _, err := ec.Leader().Client().ApplyService(ctx, "web", svcFile("web", 4, testImage)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		return ec.settled(t, "web", 4, map[string]int{ec.n1: 2, ec.n2: 2}, true)
	})
	ran := taskIDs(ec.tasks(t, "web"), ec.n1, structs.StatusRunning)
	containers := runningContainers(t, ec.private.Client, "web")

	// Down for one resync, the agent fails one or two listings, not three.
	ec.private.Stop()
	time.Sleep(resync)
	ec.private.Start()
	testutil.AssertFor(t, 2*resync, func() (bool, string) {
		if n := ec.node(t, ec.n1); n.Status != structs.NodeReady {
			return false, fmt.Sprintf("node n1 is %s (%q)", n.Status, n.StatusReason)
		}
		if ts := ec.tasks(t, "web"); len(ts) != 4 || !slices.Equal(taskIDs(ts, ec.n1, structs.StatusRunning), ran) {
			return false, fmt.Sprintf("the service has %d tasks, RUNNING on n1 %v; want 4, and %v on n1", len(ts), taskIDs(ts, ec.n1, structs.StatusRunning), ran)
		}
		if got := runningContainers(t, ec.private.Client, "web"); !slices.Equal(got, containers) {
			return false, fmt.Sprintf("the restarted engine runs containers %v, want the same as before, %v", got, containers)
		}
		return ec.settled(t, "web", 4, map[string]int{ec.n1: 2, ec.n2: 2}, true)
	})

	start := time.Now()
	ec.private.Stop()
	ec.waitEngineDown(t, "web", ran, 4)
	t.Logf("node down and the service whole on n2 %s after the daemon was told to stop", time.Since(start).Round(10*time.Millisecond))
	if lost := taskIDs(ec.tasks(t, "web"), ec.n1, structs.StatusLost); !slices.Equal(lost, ran) {
		t.Fatalf("LOST on n1: %v, want the tasks whose containers kept running, %v", lost, ran)
	}
	start = time.Now()
	ec.private.Start()
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		if n := ec.node(t, ec.n1); n.Status != structs.NodeReady || n.EngineError != "" {
			return false, fmt.Sprintf("node n1 is %s (%q), engine error %q", n.Status, n.StatusReason, n.EngineError)
		}
		return ec.settled(t, "web", 4, map[string]int{ec.n2: 4}, true)
	})
	t.Logf("node ready and the LOST tasks' containers stopped %s after the daemon was started", time.Since(start).Round(10*time.Millisecond))
	testutil.AssertFor(t, 2*time.Second, func() (bool, string) {
		return ec.settled(t, "web", 4, map[string]int{ec.n2: 4}, true)
	})
	ec.EnsureSame(t)
}
