package test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
	"github.com/skiff-run/skiff/token"
)

// TestClusterWrongTokenCannotJoin starts an agent with another cluster's
// token that joins through a member: gossip is encrypted with a key from
// the token, so the cluster never hears it, never lists it and never gives
// it a Raft seat, and the intruder sees only itself.
func TestClusterWrongTokenCannotJoin(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	intruder, err := agent.New(agent.Config{Name: "intruder", DataDir: t.TempDir(), HTTPAddr: testutil.Addr(t), RaftAddr: testutil.Addr(t),
		GossipAddr: testutil.Addr(t), Join: []string{c.Members[0].GossipAddr}, Token: newSecret(t).String(), BootstrapExpect: 3, CPU: 1024, MemoryMiB: 1024,
		Runtime: runtime.NewFake(), ProbeInterval: 200 * time.Millisecond, ReconnectInterval: time.Second,
		Logger: testutil.Logger(t), RaftLog: testutil.PrefixLogWriter(t, "intruder: ")})
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	testutil.AssertFor(t, 5*time.Second, func() (bool, string) {
		for _, m := range c.Alive() {
			for _, mem := range m.Agent().Members() {
				if mem.ID == intruder.ID() {
					return false, fmt.Sprintf("%s lists the intruder: %+v", m.Name, mem)
				}
			}
		}
		peers, err := c.Leader().Agent().RaftPeers(t.Context())
		for _, p := range peers {
			if p.ID == intruder.ID() {
				return false, "the intruder has a Raft seat"
			}
		}
		if n := len(intruder.Members()); n != 1 {
			return false, fmt.Sprintf("the intruder sees %d members", n)
		}
		return err == nil, fmt.Sprint(err)
	})
}

// asNode sends a command to an agent's internal apply under a certificate
// for node, issued by ca, as that node's agent would forward it.
func asNode(t *testing.T, ca *pki.CA, node, addr string, ct fsm.CommandType, body any) (int, string, error) {
	t.Helper()
	cert, err := ca.Issue(node, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ClientTLS(ca.PEM())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	cmd, err := fsm.Encode(ct, body)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Post("https://"+addr+api.InternalApplyPath, "application/octet-stream", bytes.NewReader(cmd))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), nil
}

// TestClusterNodeSpeaksOnlyForItself: a node's certificate lets it report
// only its own tasks and register only itself. A node that reports another
// node's task as stopped, or registers under another node's id, is refused
// with 403 and the state does not change; a certificate of another
// cluster gets no answer at all.
func TestClusterNodeSpeaksOnlyForItself(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	l := c.Leader()
	ctx := context.Background()
	if _, err := l.Client().ApplyService(ctx, "web", svcFile("web", 3, "img")); err != nil {
		t.Fatal(err)
	}
	var victim *structs.Task
	var liar string
	testutil.Eventually(t, 15*time.Second, func() (bool, string) {
		victim = nil
		for _, tk := range l.Agent().State().TasksByService("web") {
			if tk.LastStatus == structs.StatusRunning && tk.Node != l.Agent().ID() {
				victim = tk
			}
		}
		return victim != nil, "no task running on a follower"
	})
	for _, m := range c.Members {
		if id := m.Agent().ID(); id != victim.Node && id != l.Agent().ID() {
			liar = id
		}
	}
	secret, err := token.Parse(c.Token)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := pki.ClusterCA(secret)
	victimNode := *l.Agent().State().Node(victim.Node)

	forged := fsm.UpdateTaskStatus{Updates: []fsm.TaskStatusUpdate{{ID: victim.ID, Node: victim.Node, LastStatus: structs.StatusStopped, StopReason: "forged", At: 1}}}
	status, body, err := asNode(t, ca, liar, l.HTTPAddr, fsm.CmdUpdateTaskStatus, forged)
	if err != nil || status != http.StatusForbidden || !strings.Contains(body, "node "+liar+" may not report task "+victim.ID) {
		t.Fatalf("a report of another node's task: %d %s %v", status, body, err)
	}
	hijack := victimNode
	hijack.APIAddress, hijack.Address = "10.6.6.6:7070", "10.6.6.6:7071"
	status, body, err = asNode(t, ca, liar, l.HTTPAddr, fsm.CmdRegisterNode, fsm.RegisterNode{Node: hijack, At: 1})
	if err != nil || status != http.StatusForbidden || !strings.Contains(body, "node "+liar+" may not register node "+victim.Node) {
		t.Fatalf("a registration as another node: %d %s %v", status, body, err)
	}
	otherCA, _ := pki.ClusterCA(newSecret(t))
	if status, body, err := asNode(t, otherCA, victim.Node, l.HTTPAddr, fsm.CmdUpdateTaskStatus, forged); err == nil {
		t.Fatalf("another cluster's certificate got an answer: %d %s", status, body)
	}
	testutil.AssertFor(t, time.Second, func() (bool, string) {
		st := l.Agent().State()
		tk, n := st.Task(victim.ID), st.Node(victim.Node)
		return tk.LastStatus == structs.StatusRunning && tk.StopReason == "" && n.APIAddress == victimNode.APIAddress && n.Address == victimNode.Address,
			fmt.Sprintf("task %+v, node %+v", tk, n)
	})
	// The node itself may report its task.
	own := fsm.UpdateTaskStatus{Updates: []fsm.TaskStatusUpdate{{ID: victim.ID, Node: victim.Node, LastStatus: structs.StatusRunning, Containers: victim.Containers, At: 1}}}
	if status, body, err := asNode(t, ca, victim.Node, l.HTTPAddr, fsm.CmdUpdateTaskStatus, own); err != nil || status != http.StatusOK {
		t.Fatalf("the node's own report: %d %s %v", status, body, err)
	}
}

// TestClusterAPIOnlyOverTLS: the API of an agent with a cluster token
// answers nothing in plain text, neither HTTP nor anything else on its
// port, and a client that does not trust the cluster's CA learns nothing.
func TestClusterAPIOnlyOverTLS(t *testing.T) {
	c := testcluster.New(t, 1, 1)
	addr := c.Members[0].HTTPAddr
	resp, err := http.Get("http://" + addr + "/v1/health")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), `"status"`) {
			t.Fatalf("plain http: %d %s", resp.StatusCode, body)
		}
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = conn.Write([]byte("HELLO skiff\r\n\r\n"))
	if out, _ := io.ReadAll(conn); strings.Contains(string(out), "skiff") || strings.Contains(string(out), "{") {
		t.Fatalf("plain TCP got an answer: %q", out)
	}
	// Without the cluster's CA, the system's roots do not vouch for the
	// agent; with another cluster's, neither does that.
	if _, err := api.NewClient("https://"+addr, &tls.Config{MinVersion: tls.VersionTLS13}).Health(context.Background()); err == nil {
		t.Fatal("a client that trusts only the system's roots talked to the agent")
	}
	otherCA, _ := pki.ClusterCA(newSecret(t))
	other, _ := pki.ClientTLS(otherCA.PEM())
	if _, err := api.NewClient(addr, other).Health(context.Background()); err == nil || !strings.Contains(err.Error(), "not of the trusted cluster CA") {
		t.Fatalf("a client that trusts another CA: %v", err)
	}
	if _, err := c.Members[0].Client().Health(context.Background()); err != nil {
		t.Fatalf("a client that trusts the cluster's CA: %v", err)
	}
}
