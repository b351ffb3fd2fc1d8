package command

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const eventsAnswer = `{"index":12,"events":[
{"index":11,"time":1767323045000,"kind":"task.placed","service":"web","task":"t-1","node":"n1","message":"task t-1 of web placed on pi-1"},
{"index":12,"time":1767323046000,"kind":"task.stopped","service":"web","task":"t-1","node":"n1","message":"task t-1 of web failed on pi-1: exited with code 2"}]}`

func eventTime(ms int64) string { return time.UnixMilli(ms).Format(time.DateTime) }

func TestEvents(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/events": ok(eventsAnswer)})
	r := skiffAt(f, "events", "--service", "web", "--node", "pi-1", "--kind", "task.stopped", "--kind", "task.placed", "--since", "10")
	wantOK(t, r)
	if got, want := f.last(t).uri, "/v1/events?since=10&topic=service%3Aweb&topic=node%3Api-1&topic=kind%3Atask.stopped&topic=kind%3Atask.placed&wait=0s"; got != want {
		t.Errorf("request %s, want %s", got, want)
	}
	want := "TIME                 INDEX     KIND                 MESSAGE\n" +
		eventTime(1767323045000) + "  11        task.placed          task t-1 of web placed on pi-1\n" +
		eventTime(1767323046000) + "  12        task.stopped         task t-1 of web failed on pi-1: exited with code 2\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = skiffAt(f, "events", "--json")
	wantOK(t, r)
	if !strings.HasPrefix(r.stdout, "[\n  {\n    \"index\": 11,") {
		t.Errorf("--json stdout %q: want the events as an indented JSON array", r.stdout)
	}
}

func TestEventsMissed(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/events": ok(`{"index":12,"events":[],"missed":true}`)})
	r := skiffAt(f, "events", "--since", "3")
	if r.code != 0 || r.stderr != "warning: the cluster no longer keeps some events after index 3\n" {
		t.Errorf("exit code %d, stderr %q: want 0 and a warning of the missed events", r.code, r.stderr)
	}
}

// TestEventsFollow reads a stream that ends after three items: the CLI
// prints the events and warns of the missed ones, then says the agent
// ended the stream.
func TestEventsFollow(t *testing.T) {
	var uri, accept string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uri, accept = r.URL.RequestURI(), r.Header.Get("Accept")
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: missed\ndata: {\"lostThrough\":4}\n\n: keep-alive\n\n"+
			`data: {"index":11,"time":1767323045000,"kind":"node.down","node":"n1","message":"node pi-1 is down"}`+"\nid: 11\n\n")
	}))
	defer srv.Close()
	r := skiff("", "--addr", srv.URL, "events", "-f", "--json", "--task", "abcd")
	if uri != "/v1/events?since=0&topic=task%3Aabcd" || accept != "text/event-stream" {
		t.Errorf("request %s accepting %q: want the task topic, as an event stream", uri, accept)
	}
	if r.stdout != `{"index":11,"time":1767323045000,"kind":"node.down","node":"n1","message":"node pi-1 is down"}`+"\n" {
		t.Errorf("stdout %q: want the one event as a JSON line", r.stdout)
	}
	want := "warning: the cluster no longer keeps the events up to index 4 that this stream missed\nskiff: event stream: the agent closed it\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("exit code %d, stderr %q: want 1 and %q", r.code, r.stderr, want)
	}
}
