package test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testutil"
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
// endpoint agents use. The 1,000,000-task case runs only with
// SKIFF_BENCH_C1M=1, since it needs minutes and gigabytes.
func BenchmarkControlPlane(b *testing.B) {
	for _, total := range []int{100_000, 1_000_000} {
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
		// simulated node.
		a, err := agent.New(agent.Config{Name: fmt.Sprintf("voter%d", i), DataDir: b.TempDir(), HTTPAddr: "127.0.0.1:0",
			RaftAddr: testutil.Addr(b), GossipAddr: gossip, Join: []string{seed}, Token: secret.String(), BootstrapExpect: 3, CPU: 1, MemoryMiB: 1,
			Runtime: runtime.NewFake(), ProbeInterval: 200 * time.Millisecond})
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
	for i := 0; i < nodes; i++ {
		n := structs.Node{ID: fmt.Sprintf("sim-%05d", i), Name: fmt.Sprintf("sim-%05d", i), Address: "127.0.0.1:1", CPU: 1 << 20,
			MemoryMiB: 1 << 20, PortMin: 20000, PortMax: 32767}
		internalApply(b, addr, secret, fsm.CmdRegisterNode, fsm.RegisterNode{Node: n, At: 1})
	}
	const perService = 10_000
	cl := api.NewClient(addr)
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
		var ups []fsm.TaskStatusUpdate
		running := 0
		for _, t := range st.Tasks() {
			switch {
			case t.LastStatus == structs.StatusRunning:
				running++
			case t.LastStatus == structs.StatusPending && strings.HasPrefix(t.Node, "sim-"):
				ups = append(ups, fsm.TaskStatusUpdate{ID: t.ID, Node: t.Node, LastStatus: structs.StatusRunning, At: 2,
					Containers: []structs.ContainerState{{Name: "app", Status: runtime.StateRunning}}})
			}
		}
		if running >= total {
			break
		}
		for len(ups) > 0 {
			n := min(len(ups), fsm.MaxTasksPerEntry)
			internalApply(b, addr, secret, fsm.CmdUpdateTaskStatus, fsm.UpdateTaskStatus{Updates: ups[:n]})
			ups = ups[n:]
		}
		if time.Since(start) > 20*time.Minute {
			b.Fatalf("only %d of %d tasks running after 20 minutes", running, total)
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	snap, err := snapshotSize(leader)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(elapsed.Seconds(), "s-to-all-running")
	b.ReportMetric(float64(total)/elapsed.Seconds(), "tasks/s")
	b.ReportMetric(float64(rssBytes())/(1<<20), "process-RSS-MiB")
	b.ReportMetric(float64(snap)/float64(total), "snapshot-bytes/task")
	b.StartTimer()
}

// internalApply sends one command to the leader's forwarding endpoint,
// with the agent credential a simulated node's agent would show.
func internalApply(b *testing.B, addr string, secret token.Secret, t fsm.CommandType, body any) {
	cmd, err := fsm.Encode(t, body)
	if err != nil {
		b.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+api.InternalApplyPath, bytes.NewReader(cmd))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+secret.AgentToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"error"`)) {
		b.Fatalf("%s: %d %s", t, resp.StatusCode, out)
	}
}

// snapshotSize is the size of the leader's state as a snapshot.
func snapshotSize(a *agent.Agent) (int, error) {
	var buf countingSink
	snap, err := a.FSM().Snapshot()
	if err != nil {
		return 0, err
	}
	err = snap.Persist(&buf)
	return buf.n, err
}

type countingSink struct{ n int }

func (c *countingSink) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
func (c *countingSink) Close() error                { return nil }
func (c *countingSink) ID() string                  { return "count" }
func (c *countingSink) Cancel() error               { return nil }

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
