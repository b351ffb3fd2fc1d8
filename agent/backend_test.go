package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestCloseEndsOpenStreams follows a task's logs, a request that never
// ends on its own, and closes the agent: Close must end the stream and
// report no error instead of timing out with the API still serving.
func TestCloseEndsOpenStreams(t *testing.T) {
	h := newHarness(t)
	if _, err := h.a.ApplyService(context.Background(), &structs.Service{Name: "web", DesiredCount: 1}, def("web", 10)); err != nil {
		t.Fatal(err)
	}
	h.wait("1 running", func(st *fsm.State) bool { return len(running(st, "web")) == 1 })
	task := running(h.a.State(), "web")[0]
	resp, err := h.get("/v1/tasks/" + task.ID + "/logs?follow=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || line == "" {
		t.Fatalf("first log line: %q %v", line, err)
	}
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); ended <- err }()
	if err := h.a.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	h.a = nil
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the log stream outlived the agent")
	}
}

// TestLogsOnlyForTheTasksOwnContainers refuses a container name that is
// not in the task's definition, such as a path that climbs out of the
// task's container names.
func TestLogsOnlyForTheTasksOwnContainers(t *testing.T) {
	h := newHarness(t)
	if _, err := h.a.ApplyService(context.Background(), &structs.Service{Name: "web", DesiredCount: 1}, def("web", 10)); err != nil {
		t.Fatal(err)
	}
	h.wait("1 running", func(st *fsm.State) bool { return len(running(st, "web")) == 1 })
	task := running(h.a.State(), "web")[0]
	for _, name := range []string{"x/../../containers/postgres", "other"} {
		resp, err := h.get("/v1/tasks/" + task.ID + "/logs?container=" + url.QueryEscape(name))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "is not a container of task definition web:1") {
			t.Fatalf("container %q: %d %s", name, resp.StatusCode, body)
		}
	}
	var out strings.Builder
	if err := h.a.Logs(context.Background(), task.ID, "app", structs.LogOptions{Tail: structs.AllLines}, &out); err != nil || !strings.Contains(out.String(), "fake log") {
		t.Fatalf("own container: %q %v", out.String(), err)
	}
}

// TestExecOnlyInTheTasksOwnContainers runs a command in a container of the
// task's definition, and refuses any other name the backend is given,
// whatever the API checked before.
func TestExecOnlyInTheTasksOwnContainers(t *testing.T) {
	h := newHarness(t)
	if _, err := h.a.ApplyService(context.Background(), &structs.Service{Name: "web", DesiredCount: 1}, def("web", 10)); err != nil {
		t.Fatal(err)
	}
	h.wait("1 running", func(st *fsm.State) bool { return len(running(st, "web")) == 1 })
	task := running(h.a.State(), "web")[0]
	var out strings.Builder
	stdio := api.ExecIO{Stdout: &out, Stderr: io.Discard}
	for _, name := range []string{"x/../../containers/postgres", "other"} {
		_, err := h.a.Exec(context.Background(), task.ID, api.ExecRequest{Container: name, Cmd: []string{"echo"}}, stdio)
		var fe *api.FieldError
		if !errors.As(err, &fe) || fe.Field != "container" {
			t.Fatalf("container %q: %v", name, err)
		}
	}
	code, err := h.a.Exec(context.Background(), task.ID, api.ExecRequest{Cmd: []string{"echo", "in", "app"}}, stdio)
	if err != nil || code != 0 || out.String() != "in app\n" {
		t.Fatalf("own container: code %d, %q, %v", code, out.String(), err)
	}
}

// TestBackendClusterViews reads members, Raft peers and health, and
// drains a node by name and by id prefix.
func TestBackendClusterViews(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ms := h.a.Members()
	if len(ms) != 1 || ms[0].ID != h.a.ID() || ms[0].Status != "alive" || ms[0].Commands != int(fsm.Newest()) {
		t.Fatalf("members %+v", ms)
	}
	peers, err := h.a.RaftPeers(ctx)
	if err != nil || len(peers) != 1 || !peers[0].Leader || !peers[0].Voter {
		t.Fatalf("peers %+v %v", peers, err)
	}
	if hl := h.a.Health(); !hl.IsLeader || hl.Leader != h.a.ID() || hl.Status != "ok" {
		t.Fatalf("health %+v", hl)
	}
	if h.a.LeaderAPI() == "" || h.a.NodeAPI("nope") != "" {
		t.Fatalf("leader API %q, unknown node's API %q", h.a.LeaderAPI(), h.a.NodeAPI("nope"))
	}
	n, err := h.a.Drain(ctx, "test", true)
	if err != nil || n.Eligibility != structs.EligibilityIneligible {
		t.Fatalf("drain by name: %+v %v", n, err)
	}
	n, err = h.a.Drain(ctx, h.a.ID()[:6], false)
	if err != nil || n.Eligibility != structs.EligibilityEligible {
		t.Fatalf("undrain by id prefix: %+v %v", n, err)
	}
	if _, err := h.a.Drain(ctx, "nope", true); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("drain of an unknown node: %v", err)
	}
	if err := h.a.ScaleService(ctx, "nope", 1); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("scale of an unknown service: %v", err)
	}
}

// TestApplyInternalChecksWhatItCommits takes commands as another agent
// forwards them: only node reports, and only ones the state machine can
// decode and accept.
func TestApplyInternalChecksWhatItCommits(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.a.ApplyService(ctx, &structs.Service{Name: "web", DesiredCount: 1}, def("web", 10)); err != nil {
		t.Fatal(err)
	}
	h.wait("1 running", func(st *fsm.State) bool { return len(running(st, "web")) == 1 })
	task := running(h.a.State(), "web")[0]
	report := func(status string) []byte {
		return encode(t, fsm.CmdUpdateTaskStatus, fsm.UpdateTaskStatus{Updates: []fsm.TaskStatusUpdate{{ID: task.ID, Node: h.a.ID(), LastStatus: status}}})
	}
	del, _ := fsm.Encode(fsm.CmdDeleteService, fsm.DeleteService{Name: "x"})
	for name, cmd := range map[string][]byte{
		"not forwardable": del,
		"poison":          append([]byte{byte(fsm.CmdUpdateTaskStatus)}, "not json"...),
		"forged LOST":     report(structs.StatusLost),
		"empty":           nil,
	} {
		var fe *api.FieldError
		if _, err := h.a.ApplyInternal(ctx, h.a.ID(), cmd); !errors.As(err, &fe) {
			t.Errorf("%s: %v", name, err)
		}
	}
	index := h.a.State().Index()
	if _, err := h.a.ApplyInternal(ctx, h.a.ID(), report(structs.StatusRunning)); err != nil {
		t.Fatalf("a good report: %v", err)
	}
	if h.a.State().Index() <= index {
		t.Fatal("the good report was not committed")
	}
}

func encode(t *testing.T, ct fsm.CommandType, body any) []byte {
	t.Helper()
	b, err := fsm.Encode(ct, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestApplyInternalOnlyForTheCallersNode: the node a certificate names
// registers only itself and reports only the tasks the leader's state
// places on it; nothing it is refused reaches the state.
func TestApplyInternalOnlyForTheCallersNode(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	self := h.a.ID()
	other := structs.Node{ID: "other", Name: "other", CPU: 1024, MemoryMiB: 1024, PortMin: 20000, PortMax: 20100}
	if _, err := h.a.ApplyInternal(ctx, "other", encode(t, fsm.CmdRegisterNode, fsm.RegisterNode{Node: other})); err != nil {
		t.Fatalf("a node registers itself: %v", err)
	}
	if _, err := h.a.commit.Commit(ctx, fsm.CmdRegisterTaskDefinition, fsm.RegisterTaskDefinition{TaskDefinition: *def("job", 10)}); err != nil {
		t.Fatal(err)
	}
	place := []structs.Task{
		{ID: "mine", TaskDefinition: "job:1", Node: self, DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending},
		{ID: "theirs", TaskDefinition: "job:1", Node: "other", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending},
	}
	if _, err := h.a.commit.Commit(ctx, fsm.CmdCommitPlan, fsm.CommitPlan{Place: place}); err != nil {
		t.Fatal(err)
	}
	report := func(updates ...fsm.TaskStatusUpdate) []byte {
		return encode(t, fsm.CmdUpdateTaskStatus, fsm.UpdateTaskStatus{Updates: updates})
	}
	stopped := func(id, node string) fsm.TaskStatusUpdate {
		return fsm.TaskStatusUpdate{ID: id, Node: node, LastStatus: structs.StatusStopped, StopReason: "forged"}
	}
	for _, tc := range []struct {
		name, caller string
		cmd          []byte
		want         string
	}{
		{"register as another node", "other", encode(t, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: self, Name: "evil"}}),
			"node other may not register node " + self},
		{"report another node's task", "other", report(stopped("mine", self)),
			"node other may not report task mine, which the leader's state places on node " + self},
		{"one bad update in a batch", "other", report(stopped("theirs", "other"), stopped("mine", "other")),
			"node other may not report task mine"},
		{"report its own task as another node", "other", report(stopped("theirs", self)),
			"node other may not report task theirs as node " + self},
		{"report a task the state does not hold", "other", report(stopped("nope", "other")),
			"node other may not report task nope, which the leader's state does not hold"},
		{"no certificate", "", report(stopped("mine", self)), "needs the certificate of a node"},
	} {
		_, err := h.a.ApplyInternal(ctx, tc.caller, tc.cmd)
		if !errors.Is(err, api.ErrForbidden) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	for _, id := range []string{"mine", "theirs"} {
		if tk := h.a.State().Task(id); tk.LastStatus == structs.StatusStopped || tk.StopReason == "forged" {
			t.Fatalf("a refused report reached the state: %+v", tk)
		}
	}
	if n := h.a.State().Node(self); n.Name != "test" {
		t.Fatalf("this node's registration changed: %+v", n)
	}
	if _, err := h.a.ApplyInternal(ctx, "other", report(fsm.TaskStatusUpdate{ID: "theirs", Node: "other", LastStatus: structs.StatusRunning})); err != nil {
		t.Fatalf("a node reports its own task: %v", err)
	}
}

// TestLeaveStopsContainersAndEnds leaves the cluster: every local
// container stops and Done closes.
func TestLeaveStopsContainersAndEnds(t *testing.T) {
	h := newHarness(t)
	if _, err := h.a.ApplyService(context.Background(), &structs.Service{Name: "web", DesiredCount: 2}, def("web", 10)); err != nil {
		t.Fatal(err)
	}
	h.wait("2 running", func(st *fsm.State) bool { return len(running(st, "web")) == 2 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client gave up at once; the leave still finishes
	if err := h.a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.a.Done():
	default:
		t.Fatal("Done is still open after Leave")
	}
	if n := len(h.rt.Running()); n != 0 {
		t.Fatalf("%d tasks still run after the leave", n)
	}
}

// TestAPITokens follows the token flow of a new cluster: the first
// management token is in the data dir and registered in the state; it
// makes a read-only token that reads and may not write; deleting that
// token revokes it; the API answers nothing without a token.
func TestAPITokens(t *testing.T) {
	h := newHarness(t)
	raw, err := os.ReadFile(filepath.Join(h.dir, ManagementTokenFile))
	info, serr := os.Stat(filepath.Join(h.dir, ManagementTokenFile))
	if err != nil || serr != nil || strings.TrimSpace(string(raw)) != h.secret.ManagementToken() || info.Mode().Perm() != 0o600 {
		t.Fatalf("management token file: %q %v %v", raw, err, info)
	}
	mgmt := api.NewClient(h.a.HTTPAddr(), h.clientTLS())
	mgmt.Token = h.secret.ManagementToken()
	ctx := context.Background()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		_, err := mgmt.Nodes(ctx)
		return err == nil, fmt.Sprint(err)
	})
	anon := api.NewClient(h.a.HTTPAddr(), h.clientTLS())
	if _, err := anon.Nodes(ctx); statusOf(err) != 401 {
		t.Fatalf("no token: %v", err)
	}
	if _, err := anon.Health(ctx); err != nil {
		t.Fatalf("health without a token: %v", err)
	}
	nt, err := mgmt.CreateToken(ctx, "dashboard", structs.PolicyReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	ro := api.NewClient(h.a.HTTPAddr(), h.clientTLS())
	ro.Token = nt.Secret
	if _, err := ro.Tasks(ctx, "", true); err != nil {
		t.Fatalf("read-only read: %v", err)
	}
	if err := ro.DeleteService(ctx, "web"); statusOf(err) != 403 {
		t.Fatalf("read-only write: %v", err)
	}
	list, err := mgmt.Tokens(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("tokens %+v %v", list, err)
	}
	for _, st := range h.a.State().ACLTokens() {
		if strings.Contains(st.SecretHash, nt.Secret) || st.SecretHash == nt.Secret {
			t.Fatal("the state holds a secret")
		}
	}
	if err := mgmt.DeleteToken(ctx, nt.AccessorID); err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Tasks(ctx, "", true); statusOf(err) != 401 {
		t.Fatalf("deleted token: %v", err)
	}
}

func statusOf(err error) int {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}
