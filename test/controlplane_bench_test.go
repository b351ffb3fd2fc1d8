package test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
	"github.com/skiff-run/skiff/token"
)

// BenchmarkControlPlane is skiff's version of Nomad's C1M: three voters in
// this process on real BoltDB stores, 5,000 simulated nodes, and services
// adding up to Tasks tasks. It reports the time from submitting the
// services to every task RUNNING in the leader's state. The simulated
// nodes are one goroutine that plays every node's loop: it sees PENDING
// tasks and reports them RUNNING in batches, through the same forwarding
// endpoint agents use, each node's under that node's own certificate. It
// also reports the heap per task and the time to write and restore a
// snapshot of the final state. The sizes show how the cost grows with the
// work; the 1,000,000-task case runs only with SKIFF_BENCH_C1M=1, since it
// needs minutes and gigabytes.
func BenchmarkControlPlane(b *testing.B) {
	for _, total := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("tasks=%d/nodes=5000", total), func(b *testing.B) {
			if total > 100_000 && os.Getenv("SKIFF_BENCH_C1M") != "1" {
				b.Skip("set SKIFF_BENCH_C1M=1 to run the 1,000,000-task case")
			}
			for i := 0; i < b.N; i++ {
				runControlPlane(b, total, 5000)
			}
		})
	}
}

func runControlPlane(b *testing.B, total, nodes int) {
	b.StopTimer()
	var agents []*agent.Agent
	seed, secret := testutil.Addr(b), newSecret(b)
	for i := 0; i < 3; i++ {
		gossip := seed
		if i > 0 {
			gossip = testutil.Addr(b)
		}
		// The voters offer almost nothing, so that every task lands on a
		// simulated node. The simulated nodes are not gossip members, which
		// the leader would take for hosts that never came back after a
		// power cut and mark down once DownAfter has passed; an hour keeps
		// them up for the whole run.
		a, err := agent.New(agent.Config{Name: fmt.Sprintf("voter%d", i), DataDir: b.TempDir(), HTTPAddr: "127.0.0.1:0",
			RaftAddr: testutil.Addr(b), GossipAddr: gossip, Join: []string{seed}, Token: secret.String(), BootstrapExpect: 3, CPU: 1, MemoryMiB: 1,
			Runtime: runtime.NewFake(), ProbeInterval: 200 * time.Millisecond, DownAfter: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		agents = append(agents, a)
	}
	var leader *agent.Agent
	testutil.Eventually(b, 30*time.Second, func() (bool, string) {
		for _, a := range agents {
			if a.IsLeader() {
				leader = a
				return true, ""
			}
		}
		return false, "no leader"
	})
	addr := leader.HTTPAddr()
	sims := newSimNodes(b, addr, secret)
	for i := 0; i < nodes; i++ {
		n := structs.Node{ID: fmt.Sprintf("sim-%05d", i), Name: fmt.Sprintf("sim-%05d", i), Address: "127.0.0.1:1", CPU: 1 << 20,
			MemoryMiB: 1 << 20, PortMin: 20000, PortMax: 32767}
		sims.apply(b, n.ID, fsm.CmdRegisterNode, fsm.RegisterNode{Node: n, At: 1})
		// Binpack puts the tasks on a few of the nodes; the others need
		// not hold a connection to the leader while it is measured.
		sims.forget()
	}
	const perService = 10_000
	cl := api.NewClient(addr, sims.cli)
	cl.Token = secret.ManagementToken()
	start := time.Now()
	b.StartTimer()
	for s := 0; s*perService < total; s++ {
		name := fmt.Sprintf("c1m-%03d", s)
		file := fmt.Sprintf(`{"service":%q,"desiredCount":%d,"taskDefinition":{"family":%q,"containerDefinitions":[{"name":"app","image":"img","cpu":1,"memory":16}]}}`,
			name, min(perService, total-s*perService), name)
		if _, err := cl.ApplyService(context.Background(), name, []byte(file)); err != nil {
			b.Fatal(err)
		}
	}
	// Play the simulated nodes until every task runs.
	for {
		st := leader.State()
		ups := map[string][]fsm.TaskStatusUpdate{}
		running := 0
		for _, t := range st.Tasks() {
			switch {
			case t.LastStatus == structs.StatusRunning:
				running++
			case t.LastStatus == structs.StatusPending && strings.HasPrefix(t.Node, "sim-"):
				ups[t.Node] = append(ups[t.Node], fsm.TaskStatusUpdate{ID: t.ID, Node: t.Node, LastStatus: structs.StatusRunning, At: 2,
					Containers: []structs.ContainerState{{Name: "app", Status: runtime.StateRunning}}})
			}
		}
		if running >= total {
			break
		}
		for node, nu := range ups {
			for len(nu) > 0 {
				n := min(len(nu), fsm.MaxTasksPerEntry)
				sims.apply(b, node, fsm.CmdUpdateTaskStatus, fsm.UpdateTaskStatus{Updates: nu[:n]})
				nu = nu[n:]
			}
		}
		if time.Since(start) > 20*time.Minute {
			b.Fatalf("only %d of %d tasks running after 20 minutes", running, total)
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	rss := rssBytes()
	goruntime.GC()
	var mem goruntime.MemStats
	goruntime.ReadMemStats(&mem)
	snap, persisted, restored, err := snapshotAndRestore(leader)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(elapsed.Seconds(), "s-to-all-running")
	b.ReportMetric(float64(total)/elapsed.Seconds(), "tasks/s")
	b.ReportMetric(float64(rss)/(1<<20), "process-RSS-MiB")
	// Everything the process holds, the three replicas and all the rest,
	// shared out over the replicas' tasks: an upper bound on the state's
	// own cost per task.
	b.ReportMetric(float64(mem.HeapAlloc)/float64(3*total), "heap-bytes/task/replica")
	b.ReportMetric(float64(snap)/float64(total), "snapshot-bytes/task")
	b.ReportMetric(persisted.Seconds(), "s-snapshot")
	b.ReportMetric(restored.Seconds(), "s-restore")
	b.StartTimer()
}

// simNodes are the simulated nodes' links to the leader: each node shows a
// certificate for its own id, issued by the cluster CA as an agent's is,
// since the leader takes a node's reports only under its certificate.
type simNodes struct {
	addr string
	ca   *pki.CA
	// cli trusts the cluster CA; each node's client adds its certificate.
	cli     *tls.Config
	clients map[string]*http.Client
}

func newSimNodes(b *testing.B, addr string, secret token.Secret) *simNodes {
	ca, err := pki.ClusterCA(secret)
	if err != nil {
		b.Fatal(err)
	}
	cli, err := pki.ClientTLS(ca.PEM())
	if err != nil {
		b.Fatal(err)
	}
	return &simNodes{addr: addr, ca: ca, cli: cli, clients: map[string]*http.Client{}}
}

// client is a node's client, made on its first call.
func (s *simNodes) client(b *testing.B, node string) *http.Client {
	if c, ok := s.clients[node]; ok {
		return c
	}
	cert, err := s.ca.Issue(node, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	cfg := s.cli.Clone()
	cfg.Certificates = []tls.Certificate{cert}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	s.clients[node] = c
	return c
}

// forget closes the nodes' connections and drops their clients.
func (s *simNodes) forget() {
	for _, c := range s.clients {
		c.CloseIdleConnections()
	}
	clear(s.clients)
}

// apply sends one command of a node to the leader's forwarding endpoint,
// as the node's agent would.
func (s *simNodes) apply(b *testing.B, node string, t fsm.CommandType, body any) {
	cmd, err := fsm.Encode(t, body)
	if err != nil {
		b.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "https://"+s.addr+api.InternalApplyPath, bytes.NewReader(cmd))
	if err != nil {
		b.Fatal(err)
	}
	resp, err := s.client(b, node).Do(req)
	if err != nil {
		b.Fatalf("%s: %v", node, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"error"`)) {
		b.Fatalf("%s: %d %s", t, resp.StatusCode, out)
	}
}

// snapshotAndRestore writes the leader's state as a snapshot into memory
// and restores it into a new state machine, and returns the snapshot's
// size and how long each took.
func snapshotAndRestore(a *agent.Agent) (size int, persisted, restored time.Duration, err error) {
	var buf bufferSink
	start := time.Now()
	snap, err := a.FSM().Snapshot()
	if err != nil {
		return 0, 0, 0, err
	}
	if err := snap.Persist(&buf); err != nil {
		return 0, 0, 0, err
	}
	persisted = time.Since(start)
	size = buf.Len()
	start = time.Now()
	if err := fsm.New(nil).Restore(io.NopCloser(&buf)); err != nil {
		return 0, 0, 0, err
	}
	return size, persisted, time.Since(start), nil
}

// bufferSink is a snapshot sink in memory.
type bufferSink struct{ bytes.Buffer }

func (s *bufferSink) Close() error  { return nil }
func (s *bufferSink) ID() string    { return "memory" }
func (s *bufferSink) Cancel() error { return nil }

// rssBytes reads this process's resident set size from /proc.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
