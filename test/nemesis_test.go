package test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// envInt reads a positive integer setting from the environment.
func envInt(t *testing.T, name string, def int64) int64 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: expected a non-negative integer", name, v)
	}
	return n
}

// fault is one thing the nemesis does to an agent's container, and how it
// undoes it.
type fault struct {
	name     string
	do, undo func(f *fleet, i int)
	onLeader bool // aimed at the leader rather than a follower
}

func faults() []fault {
	kill := func(f *fleet, i int) { docker(f.t, "kill", "-s", "KILL", f.names[i]) }
	start := func(f *fleet, i int) { docker(f.t, "start", f.names[i]) }
	pause := func(f *fleet, i int) { docker(f.t, "pause", f.names[i]) }
	unpause := func(f *fleet, i int) { docker(f.t, "unpause", f.names[i]) }
	cut := func(f *fleet, i int) { docker(f.t, "network", "disconnect", f.network, f.names[i]) }
	heal := func(f *fleet, i int) { docker(f.t, "network", "connect", f.network, f.names[i]) }
	// One-way cuts drop packets inside the agents' network namespaces
	// with the host's iptables, which needs root; without it the nemesis
	// keeps to the faults docker itself makes.
	oneWay := exec.Command("iptables", "-L", "-n").Run() == nil
	deaf := func(f *fleet, i int) { f.iptables(i, "-I", "INPUT", "-s", f.subnet(), "-j", "DROP") }
	hearing := func(f *fleet, i int) { f.iptables(i, "-D", "INPUT", "-s", f.subnet(), "-j", "DROP") }
	unheard := func(f *fleet, i int) {
		for j := range f.names {
			if j != i {
				f.iptables(j, "-I", "INPUT", "-s", f.ip(i), "-j", "DROP")
			}
		}
	}
	heard := func(f *fleet, i int) {
		for j := range f.names {
			if j != i {
				f.iptables(j, "-D", "INPUT", "-s", f.ip(i), "-j", "DROP")
			}
		}
	}
	var out []fault
	for _, leader := range []bool{true, false} {
		who := "a follower"
		if leader {
			who = "the leader"
		}
		out = append(out,
			fault{name: "kill -9 " + who + ", then start it", do: kill, undo: start, onLeader: leader},
			fault{name: "pause " + who + ", then unpause it", do: pause, undo: unpause, onLeader: leader},
			fault{name: "cut " + who + " off the network, then reconnect it", do: cut, undo: heal, onLeader: leader},
		)
		if oneWay {
			out = append(out,
				fault{name: "make " + who + " deaf (it sends, nothing reaches it), then let it hear", do: deaf, undo: hearing, onLeader: leader},
				fault{name: "make " + who + " unheard (it hears, nothing it sends arrives), then heard", do: unheard, undo: heard, onLeader: leader},
			)
		}
	}
	return out
}

// iptables runs iptables in agent i's network namespace.
func (f *fleet) iptables(i int, args ...string) {
	f.t.Helper()
	pid := docker(f.t, "inspect", "-f", "{{.State.Pid}}", f.names[i])
	cmd := exec.Command("nsenter", append([]string{"-t", pid, "-n", "iptables"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		f.t.Fatalf("iptables %v in agent %d: %v\n%s", args, i, err, out)
	}
}

// subnet is the fleet network's address range.
func (f *fleet) subnet() string {
	return docker(f.t, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", f.network)
}

// ip is agent i's address on the fleet's network.
func (f *fleet) ip(i int) string {
	return docker(f.t, "inspect", "-f", "{{(index .NetworkSettings.Networks \""+f.network+"\").IPAddress}}", f.names[i])
}

// writeLog is what the nemesis's client was told about its writes: the
// desired count the service must end with is the last acknowledged one,
// or one whose request got no answer (a request that timed out may still
// be committed, even cycles later); every acknowledged stop must hold.
type writeLog struct {
	mu    sync.Mutex
	acked int   // last acknowledged desired count
	maybe []int // counts asked for since, without an answer
	// open are the counts of earlier cycles that got no answer. Such a
	// write stays undecided for good: a leader that was cut off may hold
	// it in its log, win a later election and commit it, as Raft allows.
	open      []int
	ackedN    int // acknowledged writes in all
	failedN   int
	stopped   []string // task ids whose stop was acknowledged
	maxWanted int      // the largest count asked for since the last settle
	// faulted is the node the current fault is aimed at: its containers
	// keep running where the cluster cannot see them until it is back
	// and has stopped those of its lost tasks.
	faulted string
}

// ack records an acknowledged write of count n; the caller holds mu. The
// writes still without an answer stay undecided for the rest of the run:
// a request that timed out may still be on its way (in a forwarding agent,
// or in a leader's log) and take effect after this one, which
// linearizability allows, since it never returned.
func (w *writeLog) ack(n int) {
	// The last of maybe is this write itself: the client writes one at a
	// time.
	if k := len(w.maybe) - 1; k >= 0 && w.maybe[k] == n {
		w.maybe = w.maybe[:k]
	}
	for _, m := range w.maybe {
		if !slices.Contains(w.open, m) {
			w.open = append(w.open, m)
		}
	}
	w.acked, w.maybe = n, nil
	w.ackedN++
}

func (w *writeLog) allowed() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Concat([]int{w.acked}, w.maybe, w.open)
}

// settle takes the count every replica ended with as the new baseline.
func (w *writeLog) settle(count int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.maybe {
		if !slices.Contains(w.open, n) {
			w.open = append(w.open, n)
		}
	}
	w.acked, w.maybe, w.faulted = count, nil, ""
	// The bound stays where it was until the cluster has converged: a
	// task stopped by the last writes keeps running through its node's
	// deregistration delay and its stop, after the replicas agree.
	w.maxWanted = max(w.maxWanted, count)
}

// converged lowers the sampler's bound to the count the cluster now runs
// (or any write still undecided), once every stopped task is gone.
func (w *writeLog) converged(count int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.maxWanted = count
	for _, n := range w.open {
		w.maxWanted = max(w.maxWanted, n)
	}
}

// TestMultiHostNemesis runs a client that keeps scaling the service,
// redeploying it and stopping its tasks while a nemesis kills -9, pauses
// and cuts off agents (both ways, or one way: deaf or unheard), the
// leader or a follower, one fault per cycle. A
// sampler watches the engine throughout. After each cycle it checks that
// every acknowledged write is on every replica, that the service converges
// to its count, and at the end that nothing leaked; no task may ever run
// twice. SKIFF_NEMESIS_CYCLES sets the cycles (default 4),
// SKIFF_NEMESIS_SEED replays a run, and SKIFF_NEMESIS_FAULTS keeps only the
// faults whose description contains it (e.g. "unheard").
func TestMultiHostNemesis(t *testing.T) {
	cycles := envInt(t, "SKIFF_NEMESIS_CYCLES", 4)
	seed := envInt(t, "SKIFF_NEMESIS_SEED", time.Now().UnixNano()%1_000_000_000)
	t.Logf("nemesis: %d cycles, seed %d (SKIFF_NEMESIS_SEED=%d replays the same faults)", cycles, seed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	f := newFleet(t, 3)
	l := f.leader(nil)
	ctx := context.Background()
	log := &writeLog{acked: 2, maxWanted: 2}
	if _, err := f.client(l).ApplyService(ctx, f.prefix, svcFile(f.prefix, 2, testImage)); err != nil {
		t.Fatal(err)
	}
	f.converged(l, 2, nil)

	// The sampler: no task id may ever run in two containers at once, and
	// outside the faulted node the service never runs more containers than
	// twice the largest count asked for, answered or not (a redeploy
	// replaces every task).
	var dupMu sync.Mutex
	var dups []string
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sampleCtx.Err() == nil {
			engine, nodes := f.engineRunning()
			// A write without an answer yet may already be committed and
			// running (the client hears of a commit after the nodes do), so
			// the counts it and the undecided ones ask for count too.
			log.mu.Lock()
			faulted, wanted := log.faulted, log.maxWanted
			for _, n := range slices.Concat(log.maybe, log.open) {
				wanted = max(wanted, n)
			}
			bound := 2 * wanted
			log.mu.Unlock()
			visible, where := 0, map[string]int{}
			for id, n := range engine {
				if n > 1 {
					dupMu.Lock()
					dups = append(dups, fmt.Sprintf("%s: task %s in %d containers", time.Now().Format("15:04:05.000"), id, n))
					dupMu.Unlock()
				}
				if nodes[id] != faulted {
					visible += n
					where[id[:8]+"@"+nodes[id][:8]] += n
				}
			}
			if visible > bound {
				dupMu.Lock()
				dups = append(dups, fmt.Sprintf("%s: %d containers of the service run (%v), more than twice the largest count asked for (%d)",
					time.Now().Format("15:04:05.000"), visible, where, bound/2))
				dupMu.Unlock()
			}
			select {
			case <-sampleCtx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	defer func() { stopSampling(); <-sampled }()

	var worst time.Duration
	all := faults()
	if only := os.Getenv("SKIFF_NEMESIS_FAULTS"); only != "" {
		all = slices.DeleteFunc(all, func(ft fault) bool { return !strings.Contains(ft.name, only) })
		if len(all) == 0 {
			t.Fatalf("SKIFF_NEMESIS_FAULTS=%q names no fault", only)
		}
	}
	for cycle := range int(cycles) {
		ft := all[rng.IntN(len(all))]
		target := l
		if !ft.onLeader {
			target = (l + 1 + rng.IntN(2)) % 3
		}
		dwell := time.Duration(1500+rng.IntN(2500)) * time.Millisecond
		t.Logf("%s cycle %d: %s (agent %d) for %s", time.Now().Format("15:04:05.000"), cycle, ft.name, target, dwell.Round(time.Millisecond))
		targetID := f.nodeID(target)
		log.mu.Lock()
		log.faulted = targetID
		log.mu.Unlock()
		clientCtx, stopClient := context.WithCancel(ctx)
		clientDone := make(chan struct{})
		go func() {
			defer close(clientDone)
			nemesisClient(clientCtx, f, rand.New(rand.NewPCG(uint64(seed), uint64(cycle+2))), log)
		}()
		ft.do(f, target)
		time.Sleep(dwell)
		ft.undo(f, target)
		stopClient()
		<-clientDone

		healed := time.Now()
		l = f.leader(nil)
		led := time.Since(healed)
		count := checkReplicas(t, f, log)
		agreed := time.Since(healed)
		f.converged(l, count, nil)
		log.converged(count)
		took := time.Since(healed)
		t.Logf("cycle %d: one leader after %s, replicas agreed after %s", cycle, led.Round(time.Millisecond), agreed.Round(time.Millisecond))
		worst = max(worst, took)
		if took > 10*time.Second {
			// A slow cycle is worth its logs while they are fresh.
			for i, n := range f.names {
				out, _ := exec.Command("docker", "logs", "--since", "60s", n).CombinedOutput()
				t.Logf("cycle %d was slow; agent %d's log of the last minute:\n%s", cycle, i, out)
			}
		}
		t.Logf("%s cycle %d: converged to %d tasks %s after the fault was undone", time.Now().Format("15:04:05.000"), cycle, count, took.Round(time.Millisecond))
	}
	stopSampling()
	<-sampled
	dupMu.Lock()
	defer dupMu.Unlock()
	if len(dups) > 0 {
		t.Fatalf("the sampler saw: %v", dups[:min(len(dups), 10)])
	}
	checkNoLeakedNetworks(t, f)
	log.mu.Lock()
	t.Logf("nemesis summary: seed %d, %d cycles, %d writes acknowledged, 0 lost, %d failed, 0 duplicate running task ids, worst convergence %s",
		seed, cycles, log.ackedN, log.failedN, worst.Round(time.Millisecond))
	log.mu.Unlock()
}

// nemesisClient writes until ctx ends: it scales the service (most
// often), redeploys it with a new environment value, or stops one of its
// running tasks, each through a random agent, and records what it was
// told.
func nemesisClient(ctx context.Context, f *fleet, rng *rand.Rand, log *writeLog) {
	for ctx.Err() == nil {
		via := rng.IntN(len(f.names))
		octx, cancel := context.WithTimeout(ctx, 3*time.Second)
		c, err := f.tryClient(via)
		switch op := rng.IntN(10); {
		case err != nil:
			// The agent's port is gone while it is stopped or cut off.
		case op < 6:
			n := rng.IntN(5)
			log.mu.Lock()
			log.maybe = append(log.maybe, n)
			log.maxWanted = max(log.maxWanted, n)
			log.mu.Unlock()
			_, err := c.Scale(octx, f.prefix, n)
			log.mu.Lock()
			if err == nil {
				log.ack(n)
			} else {
				log.failedN++
			}
			log.mu.Unlock()
		case op < 8:
			tasks, err := c.Tasks(octx, f.prefix, false)
			if err != nil || len(tasks) == 0 {
				break
			}
			id := tasks[rng.IntN(len(tasks))].ID
			_, err = c.Stop(octx, id)
			log.mu.Lock()
			if err == nil {
				log.stopped = append(log.stopped, id)
				log.ackedN++
			} else {
				log.failedN++
			}
			log.mu.Unlock()
		default:
			// A redeploy names the count too; it asks for the last
			// acknowledged one, and counts as a write of it.
			log.mu.Lock()
			n := log.acked
			log.maybe = append(log.maybe, n)
			log.mu.Unlock()
			file := fmt.Appendf(nil, `{"service":%q,"desiredCount":%d,"placementStrategy":[{"type":"spread","field":"node"}],
			  "taskDefinition":{"family":%q,"containerDefinitions":[{"name":"app","image":%q,"memory":16,
			  "environment":[{"name":"REV","value":"%d"}]}]}}`, f.prefix, n, f.prefix, testImage, rng.IntN(1000))
			_, err = c.ApplyService(octx, f.prefix, file)
			log.mu.Lock()
			if err == nil {
				log.ack(n)
			} else {
				log.failedN++
			}
			log.mu.Unlock()
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(50+rng.IntN(200)) * time.Millisecond):
		}
	}
}

// tryClient is client for a goroutine other than the test's: an agent
// whose port is gone is an error, not the test's end.
func (f *fleet) tryClient(i int) (*api.Client, error) {
	out, err := exec.Command("docker", "port", f.names[i], "7070/tcp").Output()
	if err != nil {
		return nil, err
	}
	c := api.NewClient(strings.TrimSpace(strings.Split(string(out), "\n")[0]), f.clientTLS)
	c.Token = f.secret.ManagementToken()
	return c, nil
}

// checkReplicas waits until every agent's own replica shows the service at
// a count the write log allows and every acknowledged stop held, and
// returns that count.
func checkReplicas(t *testing.T, f *fleet, log *writeLog) int {
	t.Helper()
	allowed := log.allowed()
	log.mu.Lock()
	stopped := slices.Clone(log.stopped)
	log.mu.Unlock()
	count := -1
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		seen := map[int]bool{}
		// replicas says what each replica shows against how far it has
		// applied the log and which leader it follows, so that a replica
		// that stopped catching up (a lower index) tells itself apart
		// from one whose log diverged (the same index, another count).
		var replicas []string
		for i := range f.names {
			octx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			line := fmt.Sprintf("agent %d", i)
			if h, err := f.client(i).Health(octx); err == nil {
				line += fmt.Sprintf(" (%s): index %d, leader %.8s", h.Name, h.Index, h.Leader)
			}
			svcs, err := f.client(i).Services(octx)
			if err != nil {
				cancel()
				return false, fmt.Sprintf("agent %d: %v", i, err)
			}
			found := false
			for _, s := range svcs {
				if s.Name == f.prefix {
					found = true
					seen[s.DesiredCount] = true
					line += fmt.Sprintf(", count %d", s.DesiredCount)
				}
			}
			replicas = append(replicas, line)
			tasks, err := f.client(i).Tasks(octx, f.prefix, true)
			cancel()
			if err != nil || !found {
				return false, fmt.Sprintf("agent %d: service found %v, %v", i, found, err)
			}
			byID := map[string]*structs.Task{}
			for _, tk := range tasks {
				byID[tk.ID] = tk
			}
			for _, id := range stopped {
				if tk := byID[id]; tk != nil && tk.DesiredStatus != structs.StatusStopped {
					return false, fmt.Sprintf("agent %d: task %s was stopped, but is %s/%s", i, id, tk.DesiredStatus, tk.LastStatus)
				}
			}
		}
		if len(seen) != 1 {
			return false, fmt.Sprintf("replicas disagree on the count: %s", strings.Join(replicas, "; "))
		}
		for c := range seen {
			count = c
		}
		return slices.Contains(allowed, count), fmt.Sprintf("the replicas show %d; the acknowledged writes allow %v", count, allowed)
	})
	log.settle(count)
	return count
}

// checkNoLeakedNetworks fails when a network the agents made for the
// service outlives every running container of its task.
func checkNoLeakedNetworks(t *testing.T, f *fleet) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		engine, _ := f.engineRunning()
		nets, err := f.cli.NetworkList(context.Background(), network.ListOptions{
			Filters: filters.NewArgs(filters.Arg("label", runtime.LabelService+"="+f.prefix))})
		if err != nil {
			return false, err.Error()
		}
		for _, n := range nets {
			if task := n.Labels[runtime.LabelTask]; engine[task] == 0 {
				return false, fmt.Sprintf("network %s of task %s outlives its containers", n.Name, task)
			}
		}
		return true, ""
	})
}
