package agent

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
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
	resp, err := http.Get("http://" + h.a.HTTPAddr() + "/v1/tasks/" + task.ID + "/logs?follow=true")
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
		resp, err := http.Get("http://" + h.a.HTTPAddr() + "/v1/tasks/" + task.ID + "/logs?container=" + url.QueryEscape(name))
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
