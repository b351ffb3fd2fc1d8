package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/dockertest"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
	"github.com/skiff-run/skiff/token"
)

const agentImage = "skiff-agent:test"

// buildAgentImage builds the skiff binary statically into a FROM scratch
// image.
func buildAgentImage(t testing.TB) { skiffImage.Build(t) }

// fleet is several skiff agents, each in its own container on a private
// network, sharing the engine's socket.
type fleet struct {
	t       testing.TB
	cli     *client.Client
	prefix  string
	network string
	names   []string
	secret  token.Secret
	// clientTLS trusts the CA the first agent wrote to its data dir, as
	// the command line on its host would.
	clientTLS *tls.Config
}

func docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// benchAgentFlags lists the agent flags in SKIFF_BENCH_AGENT_FLAGS, which
// a fleet's agents are started with besides their own, so that a
// benchmark can measure a setting (say --raft-timeout 1s) against the
// defaults.
func benchAgentFlags() []string { return strings.Fields(os.Getenv("SKIFF_BENCH_AGENT_FLAGS")) }

func newFleet(t testing.TB, n int) *fleet {
	cli := dockertest.Client(t)
	buildTestImage(t)
	buildAgentImage(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	f := &fleet{t: t, cli: cli, prefix: "skiff-mh-" + hex.EncodeToString(b)}
	f.secret = newSecret(t)
	f.network = f.prefix
	docker(t, "network", "create", "--label", "skiff.test="+f.prefix, f.network)
	t.Cleanup(f.cleanup)
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%s-%d", f.prefix, i)
		f.names = append(f.names, name)
		args := []string{"run", "-d", "--name", name, "--hostname", fmt.Sprintf("node%d", i), "--network", f.network,
			"--label", "skiff.test=" + f.prefix, "-v", "/var/run/docker.sock:/var/run/docker.sock",
			"-p", "127.0.0.1::7070", agentImage, "agent", "--name", fmt.Sprintf("node%d", i), "--data-dir", "/data",
			"--join", f.prefix + "-1", "--token", f.secret.String(), "--bootstrap-expect", "3", "--probe-interval", "300ms", "--down-after", "500ms",
			"--port-range", fmt.Sprintf("%d-%d", 43000+i*100, 43099+i*100), "--log-level", "info"}
		docker(t, append(args, benchAgentFlags()...)...)
	}
	f.clientTLS = f.copyCA()
	return f
}

// copyCA copies the CA certificate out of the first agent's data dir, once
// the agent has written it, checks that it is the CA of the fleet's token,
// and returns a client configuration that trusts it.
func (f *fleet) copyCA() *tls.Config {
	f.t.Helper()
	path := filepath.Join(f.t.TempDir(), "ca.pem")
	testutil.Eventually(f.t, 30*time.Second, func() (bool, string) {
		out, err := exec.Command("docker", "cp", f.names[0]+":/data/ca.pem", path).CombinedOutput()
		return err == nil, fmt.Sprintf("docker cp: %v %s", err, out)
	})
	raw, err := os.ReadFile(path)
	if err != nil {
		f.t.Fatal(err)
	}
	ca, err := pki.ClusterCA(f.secret)
	if err != nil {
		f.t.Fatal(err)
	}
	if !bytes.Equal(raw, ca.PEM()) {
		f.t.Fatalf("the agent's ca.pem is not the CA of the fleet's token:\n%s", raw)
	}
	cfg, err := pki.ClientTLS(raw)
	if err != nil {
		f.t.Fatal(err)
	}
	return cfg
}

// cleanup removes the agents, the network, and every container and
// network the agents made, whether the test passed or not.
func (f *fleet) cleanup() {
	if f.t.Failed() {
		for _, n := range f.names {
			out, _ := exec.Command("docker", "logs", "--tail", "40", n).CombinedOutput()
			f.t.Logf("logs of %s:\n%s", n, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, n := range f.names {
		_ = f.cli.ContainerRemove(ctx, n, container.RemoveOptions{Force: true})
	}
	svc := filters.NewArgs(filters.Arg("label", runtime.LabelService+"="+f.prefix))
	if list, err := f.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: svc}); err == nil {
		for _, c := range list {
			_ = f.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
	}
	if nets, err := f.cli.NetworkList(ctx, network.ListOptions{Filters: svc}); err == nil {
		for _, n := range nets {
			_ = f.cli.NetworkRemove(ctx, n.ID)
		}
	}
	_ = f.cli.NetworkRemove(ctx, f.network)
}

// client talks to agent i (0-based) through its port published on
// loopback, over https.
func (f *fleet) client(i int) *api.Client {
	c := api.NewClient(f.apiAddr(i), f.clientTLS)
	c.Token = f.secret.ManagementToken()
	return c
}

// apiAddr is agent i's API port published on loopback.
func (f *fleet) apiAddr(i int) string {
	port := docker(f.t, "port", f.names[i], "7070/tcp")
	return strings.TrimSpace(strings.Split(port, "\n")[0])
}

// leader returns the index of the agent every reachable agent names as
// leader, skipping those in skip.
func (f *fleet) leader(skip map[int]bool) int {
	f.t.Helper()
	idx := -1
	testutil.Eventually(f.t, 60*time.Second, func() (bool, string) {
		idx = -1
		leaders := map[string]bool{}
		for i := range f.names {
			if skip[i] {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			h, err := f.client(i).Health(ctx)
			cancel()
			if err != nil {
				return false, fmt.Sprintf("agent %d: %v", i, err)
			}
			leaders[h.Leader] = true
			if h.IsLeader {
				idx = i
			}
		}
		return idx >= 0 && len(leaders) == 1, fmt.Sprintf("leaders seen: %v", leaders)
	})
	return idx
}

// engineRunning counts the running containers of the test's service per
// task id, across all agents: the ground truth for duplicates. It also
// returns the node each task's containers are labelled with.
func (f *fleet) engineRunning() (map[string]int, map[string]string) {
	f.t.Helper()
	list, err := f.cli.ContainerList(context.Background(), container.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", runtime.LabelService+"="+f.prefix), filters.Arg("status", "running"))})
	if err != nil {
		f.t.Fatal(err)
	}
	out, nodes := map[string]int{}, map[string]string{}
	for _, c := range list {
		out[c.Labels[runtime.LabelTask]]++
		nodes[c.Labels[runtime.LabelTask]] = c.Labels[runtime.LabelNode]
	}
	return out, nodes
}

// converged waits until the service has want RUNNING tasks, each with
// exactly one running container, none on the nodes in avoid, no task still
// stopping, and no other container of the service runs, except on the avoided nodes: a host that
// is cut off keeps its containers running, since it cannot know that it is
// considered dead.
func (f *fleet) converged(via int, want int, avoid map[string]bool) {
	f.t.Helper()
	// A slow convergence logs what held it up, each reason as it changes,
	// once it has taken 5 s: the agents' logs alone do not say which
	// task a check waited for.
	start, last := time.Now(), ""
	testutil.Eventually(f.t, 90*time.Second, func() (bool, string) {
		ok, why := f.convergedNow(via, want, avoid)
		if !ok && why != last && time.Since(start) > 5*time.Second {
			f.t.Logf("%s still converging after %s: %s", time.Now().Format("15:04:05.000"), time.Since(start).Round(time.Millisecond), why)
			last = why
		}
		return ok, why
	})
}

// convergedNow is one look of converged.
func (f *fleet) convergedNow(via int, want int, avoid map[string]bool) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	tasks, err := f.client(via).Tasks(ctx, f.prefix, false)
	if err != nil {
		return false, err.Error()
	}
	running := map[string]bool{}
	for _, t := range tasks {
		if t.DesiredStatus == structs.StatusStopped && !avoid[t.Node] {
			// A stop under way, or a start that finishes after the
			// task was stopped, may still bring up a container.
			return false, fmt.Sprintf("task %s is still stopping (%s)", t.ID, t.LastStatus)
		}
		if t.DesiredStatus == structs.StatusRunning && t.LastStatus == structs.StatusRunning {
			if avoid[t.Node] {
				return false, "a task still runs on an avoided node"
			}
			running[t.ID] = true
		}
	}
	engine, nodes := f.engineRunning()
	live := 0
	for id, n := range engine {
		if n > 1 {
			return false, fmt.Sprintf("task %s has %d running containers", id, n)
		}
		if avoid[nodes[id]] {
			continue
		}
		if !running[id] {
			return false, fmt.Sprintf("container of task %s runs but the task is not running", id)
		}
		live++
	}
	return len(running) == want && live == want, fmt.Sprintf("%d tasks running, %d containers", len(running), live)
}

// runningElsewhere reports, through agent via, whether the service has
// want tasks RUNNING on nodes other than node.
func (f *fleet) runningElsewhere(via int, node string, want int) (bool, string) {
	tasks, err := f.client(via).Tasks(context.Background(), f.prefix, false)
	if err != nil {
		return false, err.Error()
	}
	n := 0
	for _, t := range tasks {
		if t.LastStatus == structs.StatusRunning && t.Node != node {
			n++
		}
	}
	return n == want, fmt.Sprintf("%d running elsewhere", n)
}

func (f *fleet) nodeID(i int) string {
	f.t.Helper()
	h, err := f.client(i).Health(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return h.Node
}

// TestMultiHost runs three agent containers and takes them through a
// leader kill, a network cut and a pause, checking leader, placement and
// duplicates after each step.
func TestMultiHost(t *testing.T) {
	f := newFleet(t, 3)
	l := f.leader(nil)
	for i := range f.names {
		testutil.Eventually(t, 30*time.Second, func() (bool, string) {
			nodes, err := f.client(i).Nodes(context.Background())
			return err == nil && len(nodes) == 3, fmt.Sprintf("agent %d sees %d nodes (%v)", i, len(nodes), err)
		})
	}
	svc := svcFile(f.prefix, 3, testImage)
	if _, err := f.client((l+1)%3).ApplyService(context.Background(), f.prefix, svc); err != nil {
		t.Fatal(err)
	}
	f.converged(l, 3, nil)

	// 1. Kill the leader's agent: a new leader accepts writes, and the
	// tasks it ran are placed on the other two.
	oldLeader := l
	oldID := f.nodeID(oldLeader)
	killed := time.Now()
	docker(t, "kill", f.names[oldLeader])
	l = f.leader(map[int]bool{oldLeader: true})
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		_, err := f.client(l).Scale(context.Background(), f.prefix, 3)
		return err == nil, fmt.Sprint(err)
	})
	t.Logf("leader killed: new leader accepting writes after %s", time.Since(killed).Round(time.Millisecond))
	// The dead agent's containers keep running, like a host that lost its
	// agent; only the tasks on live nodes count.
	testutil.Eventually(t, 60*time.Second, func() (bool, string) { return f.runningElsewhere(l, oldID, 3) })
	t.Logf("leader killed: its tasks running elsewhere after %s", time.Since(killed).Round(time.Millisecond))
	// It comes back: it stops the containers of its lost tasks.
	docker(t, "start", f.names[oldLeader])
	f.converged(l, 3, nil)

	// 2. Cut a follower off the network, then reconnect it.
	cut := (l + 1) % 3
	cutID := f.nodeID(cut)
	docker(t, "network", "disconnect", f.network, f.names[cut])
	f.converged(l, 3, map[string]bool{cutID: true})
	docker(t, "network", "connect", f.network, f.names[cut])
	f.converged(l, 3, nil)
	if f.leader(nil) < 0 {
		t.Fatal("no leader after reconnect")
	}

	// 3. Pause a follower, then unpause it.
	paused := (f.leader(nil) + 2) % 3
	pausedID := f.nodeID(paused)
	docker(t, "pause", f.names[paused])
	l = f.leader(map[int]bool{paused: true})
	f.converged(l, 3, map[string]bool{pausedID: true})
	docker(t, "unpause", f.names[paused])
	f.converged(f.leader(nil), 3, nil)

	// 4. Closed by default. An agent on the same network with another
	// cluster's token joins through the first host: nobody hears it,
	// lists it or gives it a Raft seat. Raft refuses its certificate, and
	// the API answers nothing without a token, nothing over plain http,
	// and nothing to a client that trusts another cluster's CA.
	intruder := f.prefix + "-intruder"
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", "--tail", "40", intruder).CombinedOutput()
			t.Logf("logs of the intruder:\n%s", out)
		}
		_ = exec.Command("docker", "rm", "-f", intruder).Run()
	})
	docker(t, "run", "-d", "--name", intruder, "--network", f.network, "--label", "skiff.test="+f.prefix, agentImage,
		"agent", "--name", "intruder", "--data-dir", "/data", "--join", f.prefix+"-1", "--token", newSecret(t).String(),
		"--runtime", "fake", "--bootstrap-expect", "3", "--probe-interval", "300ms", "--log-level", "info")
	l = f.leader(nil)
	testutil.AssertFor(t, 5*time.Second, func() (bool, string) {
		for i := 0; i < 3; i++ {
			ms, err := f.client(i).Members(context.Background())
			if err != nil {
				return false, err.Error()
			}
			for _, m := range ms {
				if m.Name == "intruder" {
					return false, fmt.Sprintf("agent %d lists the intruder", i)
				}
			}
		}
		peers, err := f.client(l).RaftPeers(context.Background())
		return err == nil && len(peers) == 3, fmt.Sprintf("raft peers %+v %v", peers, err)
	})
	anon := f.client(l)
	anon.Token = ""
	var ae *api.Error
	if _, err := anon.Nodes(context.Background()); !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("a request without a token: %v", err)
	}
	plain := api.NewClient(f.apiAddr(l), nil)
	plain.Token = f.secret.ManagementToken()
	if _, err := plain.Nodes(context.Background()); err == nil || !strings.Contains(err.Error(), "serves https") {
		t.Fatalf("plain http: %v", err)
	}
	otherCA, _ := pki.ClusterCA(newSecret(t))
	otherTLS, _ := pki.ClientTLS(otherCA.PEM())
	foreign := api.NewClient(f.apiAddr(l), otherTLS)
	foreign.Token = f.secret.ManagementToken()
	if _, err := foreign.Nodes(context.Background()); err == nil || !strings.Contains(err.Error(), "not of the trusted cluster CA") {
		t.Fatalf("a client that trusts another CA: %v", err)
	}
}

// BenchmarkFailover measures, on the multi-host set-up, the time from
// `docker kill` of the leader's agent to a new leader accepting a write,
// and from `docker kill` of a host's agent (and its containers) to its
// tasks RUNNING elsewhere. Each iteration does both once; run with
// -benchtime=20x for the README's figures.
func BenchmarkFailover(b *testing.B) {
	f := newFleet(b, 3)
	l := f.leader(nil)
	svc := svcFile(f.prefix, 3, testImage)
	testutil.Eventually(b, 60*time.Second, func() (bool, string) {
		_, err := f.client(l).ApplyService(context.Background(), f.prefix, svc)
		return err == nil, fmt.Sprint(err)
	})
	f.converged(l, 3, nil)
	var leaderTimes, hostTimes []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// The leader's agent dies.
		old := f.leader(nil)
		t0 := time.Now()
		docker(b, "kill", f.names[old])
		for {
			other := (old + 1 + int(time.Since(t0)/time.Millisecond)%2) % 3
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := f.client(other).Scale(ctx, f.prefix, 3)
			cancel()
			if err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		leaderTimes = append(leaderTimes, time.Since(t0))
		docker(b, "start", f.names[old])
		f.converged(f.leader(nil), 3, nil)

		// A follower host dies: its agent and its containers.
		l := f.leader(nil)
		victim := (l + 1 + i%2) % 3
		victimID := f.nodeID(victim)
		t0 = time.Now()
		docker(b, "kill", f.names[victim])
		killNodeContainers(b, f, victimID)
		testutil.Eventually(b, 60*time.Second, func() (bool, string) { return f.runningElsewhere(l, victimID, 3) })
		hostTimes = append(hostTimes, time.Since(t0))
		docker(b, "start", f.names[victim])
		f.converged(f.leader(nil), 3, nil)
	}
	b.StopTimer()
	lm, lw := medianWorst(leaderTimes)
	hm, hw := medianWorst(hostTimes)
	b.ReportMetric(float64(lm.Milliseconds()), "leader-ms-median")
	b.ReportMetric(float64(lw.Milliseconds()), "leader-ms-worst")
	b.ReportMetric(float64(hm.Milliseconds()), "host-ms-median")
	b.ReportMetric(float64(hw.Milliseconds()), "host-ms-worst")
	b.Logf("%d runs: leader kill -> new leader accepting writes: median %s, worst %s; host kill -> tasks running elsewhere: median %s, worst %s",
		b.N, lm, lw, hm, hw)
}

// killNodeContainers kills the running containers an agent started, as if
// their host had died with it.
func killNodeContainers(t testing.TB, f *fleet, node string) {
	list, err := f.cli.ContainerList(context.Background(), container.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", runtime.LabelNode+"="+node), filters.Arg("status", "running"))})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		_ = f.cli.ContainerKill(context.Background(), c.ID, "KILL")
	}
}

func medianWorst(ds []time.Duration) (time.Duration, time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)-1]
}
