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
	if err := h.a.Logs(context.Background(), task.ID, "app", false, &out); err != nil || !strings.Contains(out.String(), "fake log") {
		t.Fatalf("own container: %q %v", out.String(), err)
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
	report := func(status string) []byte {
		b, err := fsm.Encode(fsm.CmdUpdateTaskStatus, fsm.UpdateTaskStatus{Updates: []fsm.TaskStatusUpdate{{ID: "t", Node: "n", LastStatus: status}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	del, _ := fsm.Encode(fsm.CmdDeleteService, fsm.DeleteService{Name: "x"})
	for name, cmd := range map[string][]byte{
		"not forwardable": del,
		"poison":          append([]byte{byte(fsm.CmdUpdateTaskStatus)}, "not json"...),
		"forged LOST":     report(structs.StatusLost),
		"empty":           nil,
	} {
		var fe *api.FieldError
		if _, err := h.a.ApplyInternal(ctx, cmd); !errors.As(err, &fe) {
			t.Errorf("%s: %v", name, err)
		}
	}
	index := h.a.State().Index()
	if _, err := h.a.ApplyInternal(ctx, report(structs.StatusRunning)); err != nil {
		t.Fatalf("a good report: %v", err)
	}
	if h.a.State().Index() <= index {
		t.Fatal("the good report was not committed")
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
	mgmt := api.NewClient(h.a.HTTPAddr())
	mgmt.Token = h.secret.ManagementToken()
	ctx := context.Background()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		_, err := mgmt.Nodes(ctx)
		return err == nil, fmt.Sprint(err)
	})
	anon := api.NewClient(h.a.HTTPAddr())
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
	ro := api.NewClient(h.a.HTTPAddr())
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
