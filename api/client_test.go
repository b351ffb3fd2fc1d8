package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/structs"
)

func TestNewClientDefaults(t *testing.T) {
	c := NewClient("127.0.0.1:7070/", nil)
	if c.base != "http://127.0.0.1:7070" || c.Timeout != DefaultTimeout || DefaultTimeout != 30*time.Second {
		t.Fatalf("base %q, timeout %v", c.base, c.Timeout)
	}
	if c := NewClient("https://agent:7070", nil); c.base != "https://agent:7070" {
		t.Fatalf("base %q", c.base)
	}
	// A client that knows the cluster's CA takes a bare address for https,
	// and keeps an explicit scheme.
	if c := NewClient("agent:7070", &tls.Config{}); c.base != "https://agent:7070" {
		t.Fatalf("base %q", c.base)
	}
	if c := NewClient("http://agent:7070", &tls.Config{}); c.base != "http://agent:7070" {
		t.Fatalf("base %q", c.base)
	}
}

// silent accepts requests and never answers, until the client gives up.
// It reads the body first: only then does net/http watch the connection
// and end the request's context when the client hangs up.
func silent(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClientTimeout(t *testing.T) {
	c := NewClient(silent(t).URL, nil)
	c.Timeout = 200 * time.Millisecond
	calls := map[string]func() error{
		"Health": func() error { _, err := c.Health(context.Background()); return err },
		"Scale":  func() error { _, err := c.Scale(context.Background(), "web", 1); return err },
		"Logs":   func() error { return c.Logs(context.Background(), "t", "", false, io.Discard) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := call()
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("took %v", took)
			}
			if err == nil || !strings.Contains(err.Error(), "cannot reach the skiff agent at "+c.base+": no answer within 200ms") {
				t.Fatalf("err %v", err)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%v is not a DeadlineExceeded", err)
			}
		})
	}
}

// The caller's own deadline is not reported as the client's timeout.
func TestClientCallerDeadline(t *testing.T) {
	c := NewClient(silent(t).URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Nodes(ctx)
	if err == nil || strings.Contains(err.Error(), "no answer within") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
}

// A timeout while the answer's body is still arriving is explained too.
func TestClientTimeoutInBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "[")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	c := NewClient(srv.URL, nil)
	c.Timeout = 200 * time.Millisecond
	_, err := c.Members(context.Background())
	if err == nil || !strings.Contains(err.Error(), "GET /v1/members: decode answer: no answer within 200ms") {
		t.Fatalf("err %v", err)
	}
}

// slowLogs writes a line every 50ms for ten lines: half a second, longer
// than the timeouts the tests set.
func slowLogs(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 10 {
			if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-time.After(50 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClientFollowOutlastsTimeout(t *testing.T) {
	c := NewClient(slowLogs(t).URL, nil)
	c.Timeout = 150 * time.Millisecond
	var out bytes.Buffer
	if err := c.Logs(context.Background(), "t", "", true, &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 10 {
		t.Fatalf("got %d lines:\n%s", n, out.String())
	}

	// Without follow the same stream is cut at the timeout.
	out.Reset()
	err := c.Logs(context.Background(), "t", "", false, &out)
	if err == nil || !strings.Contains(err.Error(), "logs of t: no answer within 150ms") {
		t.Fatalf("err %v after %q", err, out.String())
	}
}

// The client against the real handlers: each method sends what the route
// expects and reads back what the handler answers.
func TestClientRoundTrips(t *testing.T) {
	f := newFake()
	f.runTasks = []*structs.Task{{ID: "dddd5555"}}
	srv := serve(t, f, &logBuffer{})
	c := NewClient(srv.URL, nil)
	ctx := context.Background()
	check := func(what string, err error, ok bool) {
		t.Helper()
		if err != nil || !ok {
			t.Errorf("%s: %v", what, err)
		}
	}

	h, err := c.Health(ctx)
	check("Health", err, h.Node == "n1")
	nodes, err := c.Nodes(ctx)
	check("Nodes", err, len(nodes) == 2)
	tds, err := c.TaskDefinitions(ctx)
	check("TaskDefinitions", err, len(tds) == 1)
	svcs, err := c.Services(ctx)
	check("Services", err, len(svcs) == 2 && svcs[0].Running == 1 && svcs[0].Message != "")
	res, err := c.ApplyService(ctx, "web", []byte(goodFile))
	check("ApplyService", err, res.Service != nil && res.Service.TaskDefinition == "web:1")
	check("DeleteService", c.DeleteService(ctx, "web"), true)
	svc, err := c.Scale(ctx, "web", 4)
	check("Scale", err, svc.DesiredCount == 4)
	tasks, err := c.Tasks(ctx, "web", true)
	check("Tasks", err, len(tasks) == 3)
	task, err := c.Task(ctx, "cccc")
	check("Task", err, task.ID == "cccc4444")
	run, err := c.Run(ctx, []byte(`{"family":"one","containerDefinitions":[{"name":"a","image":"x"}]}`), 2)
	check("Run", err, len(run.Tasks) == 1)
	stopped, err := c.Stop(ctx, "aaaa1111")
	check("Stop", err, stopped.DesiredStatus == structs.StatusStopped)
	var logs bytes.Buffer
	check("Logs", c.Logs(ctx, "aaaa1111", "app", true, &logs), logs.String() == "logs of aaaa1111\n")
	members, err := c.Members(ctx)
	check("Members", err, len(members) == 1 && members[0].APIAddr == "10.0.0.1:7070")
	peers, err := c.RaftPeers(ctx)
	check("RaftPeers", err, len(peers) == 1)
	node, err := c.Drain(ctx, "n1", true)
	check("Drain", err, node.Eligibility == structs.EligibilityIneligible)
	check("Leave", c.Leave(ctx), true)

	want := []string{"ApplyService web 3 web", "DeleteService web", "ScaleService web 4", "RunTasks one 2", "StopTask aaaa1111",
		"Logs aaaa1111 app true", "Members", "RaftPeers", "Drain n1 true", "Leave"}
	if got := f.recorded(); !slices.Equal(got, want) {
		t.Errorf("calls %q\nwant  %q", got, want)
	}
}

func TestClientConsistent(t *testing.T) {
	f := newFake()
	c := NewClient(serve(t, f, &logBuffer{}).URL, nil)
	c.Consistent = true
	if _, err := c.Tasks(context.Background(), "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Services(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.recorded(); !slices.Equal(got, []string{"Barrier", "Barrier"}) {
		t.Errorf("calls %q", got)
	}
}

func TestClientErrors(t *testing.T) {
	c := NewClient(serve(t, newFake(), &logBuffer{}).URL, nil)
	ctx := context.Background()
	_, err := c.Scale(ctx, "web", -1)
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 || e.Field != "desiredCount" || err.Error() != "desiredCount: -1 is out of range: expected 0 to 100000" {
		t.Errorf("scale: %#v", err)
	}
	_, err = c.Task(ctx, "zz")
	if !errors.As(err, &e) || e.Status != 404 || err.Error() != "task zz: not found" {
		t.Errorf("task: %#v", err)
	}
	err = c.Logs(ctx, "zz", "", false, io.Discard)
	if !errors.As(err, &e) || e.Status != 404 {
		t.Errorf("logs: %#v", err)
	}
	_, err = c.ApplyService(ctx, "web", []byte(`{"service":`))
	if !errors.As(err, &e) || e.Field != "body" || !strings.HasPrefix(err.Error(), "malformed JSON") {
		t.Errorf("apply: %v", err)
	}

	// An answer that is not the API's JSON is passed on as text.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer plain.Close()
	_, err = NewClient(plain.URL, nil).Health(ctx)
	if !errors.As(err, &e) || e.Status != 502 || err.Error() != "bad gateway" {
		t.Errorf("plain: %#v", err)
	}

	// An address nobody listens on says whom it could not reach.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err = NewClient(closed.URL, nil).Health(ctx)
	if err == nil || !strings.Contains(err.Error(), "cannot reach the skiff agent at "+closed.URL) {
		t.Errorf("closed: %v", err)
	}
}
