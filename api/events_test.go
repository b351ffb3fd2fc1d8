package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// withEvents is the fake with three entries of events: web placed on
// one, db placed on two, and web's task stopped.
func withEvents(t *testing.T) (*fakeBackend, *Client) {
	t.Helper()
	f := newFake()
	f.addEvents(structs.Event{Kind: structs.EventTaskPlaced, Service: "web", Task: "aaaa1111", Node: "n1", Message: "placed"},
		structs.Event{Kind: structs.EventTaskPlaced, Service: "web", Task: "aaaa2222", Node: "n1", Message: "placed"})
	f.addEvents(structs.Event{Kind: structs.EventTaskPlaced, Service: "db", Task: "dddd1111", Node: "n2", Message: "placed"})
	f.addEvents(structs.Event{Kind: structs.EventTaskStopped, Service: "web", Task: "aaaa1111", Node: "n1", Message: "stopped: exited with code 1"})
	srv := serve(t, f, &logBuffer{})
	return f, NewClient(srv.URL, nil)
}

func TestEventsFilters(t *testing.T) {
	_, cl := withEvents(t)
	for _, c := range []struct {
		topics []string
		since  uint64
		want   []string
	}{
		{nil, 0, []string{"aaaa1111", "aaaa2222", "dddd1111", "aaaa1111"}},
		{nil, 9, []string{"aaaa1111"}},
		{[]string{"service:web"}, 0, []string{"aaaa1111", "aaaa2222", "aaaa1111"}},
		{[]string{"service:web", "service:db"}, 0, []string{"aaaa1111", "aaaa2222", "dddd1111", "aaaa1111"}},
		{[]string{"node:two"}, 0, []string{"dddd1111"}},
		{[]string{"service:web", "kind:task.stopped"}, 0, []string{"aaaa1111"}},
		{[]string{"task:1111"}, 0, []string{"aaaa1111", "dddd1111", "aaaa1111"}},
		{[]string{"deployment:*"}, 0, nil},
	} {
		ans, err := cl.Events(context.Background(), EventsQuery{Topics: c.topics, Since: c.since})
		if err != nil {
			t.Fatalf("%v since %d: %v", c.topics, c.since, err)
		}
		var got []string
		for _, e := range ans.Events {
			got = append(got, e.Task)
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") || ans.Index != 10 {
			t.Errorf("%v since %d: tasks %v at index %d, want %v at 10", c.topics, c.since, got, ans.Index, c.want)
		}
	}
}

func TestEventsRefusesBadQueries(t *testing.T) {
	f := newFake()
	srv := serve(t, f, &logBuffer{})
	for path, field := range map[string]string{
		"/v1/events?topic=web":            "topic",
		"/v1/events?topic=colour:blue":    "topic",
		"/v1/events?topic=service:":       "topic",
		"/v1/events?since=-1":             "since",
		"/v1/events?since=1&wait=forever": "wait",
		"/v1/events?since=1&wait=11m":     "wait",
	} {
		a := send(t, srv.URL, http.MethodGet, path, "", nil)
		if a.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", path, a.status)
		}
		checkJSON(t, a.body, map[string]any{"field": field})
	}
}

func TestEventsLongPoll(t *testing.T) {
	f, cl := withEvents(t)
	t.Run("waits for a matching event", func(t *testing.T) {
		done := make(chan EventsAnswer, 1)
		errs := make(chan error, 1)
		go func() {
			ans, err := cl.Events(context.Background(), EventsQuery{Topics: []string{"service:api"}, Since: 10, Block: true, Wait: time.Minute})
			if err != nil {
				errs <- err
				return
			}
			done <- ans
		}()
		f.addEvents(structs.Event{Kind: structs.EventServiceApplied, Service: "web", Message: "web applied"})
		at := f.addEvents(structs.Event{Kind: structs.EventServiceApplied, Service: "api", Message: "api applied"})
		select {
		case ans := <-done:
			if len(ans.Events) != 1 || ans.Events[0].Service != "api" || ans.Index != at {
				t.Errorf("answer %+v: want only api's event, at index %d", ans, at)
			}
		case err := <-errs:
			t.Fatal(err)
		case <-time.After(30 * time.Second):
			t.Fatal("no answer 30 s after a matching event")
		}
	})
	t.Run("answers empty when the wait ends", func(t *testing.T) {
		st := f.View()
		ans, err := cl.Events(context.Background(), EventsQuery{Topics: []string{"service:none"}, Since: st.Index(), Block: true, Wait: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if len(ans.Events) != 0 || ans.Index != st.Index() || ans.Missed {
			t.Errorf("answer %+v: want no events at index %d", ans, st.Index())
		}
	})
	t.Run("says when events were dropped", func(t *testing.T) {
		f.mu.Lock()
		f.update(func(s *fakeState) { s.lostThrough = 9 })
		f.mu.Unlock()
		ans, err := cl.Events(context.Background(), EventsQuery{Since: 8})
		if err != nil {
			t.Fatal(err)
		}
		if !ans.Missed {
			t.Errorf("answer %+v since 8 with events lost through 9: want missed", ans)
		}
		if ans, _ := cl.Events(context.Background(), EventsQuery{Since: 9}); ans.Missed {
			t.Errorf("answer %+v since 9 with events lost through 9: want nothing missed", ans)
		}
	})
}

func TestEventsStream(t *testing.T) {
	f, cl := withEvents(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	items := make(chan StreamItem, 16)
	done := make(chan error, 1)
	go func() {
		done <- cl.StreamEvents(ctx, EventsQuery{Topics: []string{"service:web"}, Since: 8}, func(it StreamItem) error {
			items <- it
			return nil
		})
	}()
	next := func() StreamItem {
		t.Helper()
		select {
		case it := <-items:
			return it
		case err := <-done:
			t.Fatalf("stream ended: %v", err)
		case <-ctx.Done():
			t.Fatal("no event within a minute")
		}
		return StreamItem{}
	}
	if it := next(); it.Event == nil || it.Event.Index != 10 || it.Event.Kind != structs.EventTaskStopped {
		t.Fatalf("first item %+v: want the kept stop of index 10", it)
	}
	f.addEvents(structs.Event{Kind: structs.EventServiceApplied, Service: "db", Message: "db applied"})
	at := f.addEvents(structs.Event{Kind: structs.EventServiceScaled, Service: "web", Message: "web scaled"})
	if it := next(); it.Event == nil || it.Event.Index != at || it.Event.Message != "web scaled" {
		t.Fatalf("next item %+v: want web's scale at %d, and not db's apply", it, at)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("stream ended with %v when its context did, want nil", err)
	}
}

func TestEventsStreamWireFormat(t *testing.T) {
	f, _ := withEvents(t)
	f.mu.Lock()
	f.update(func(s *fakeState) { s.lostThrough = 8 })
	f.mu.Unlock()
	srv := serve(t, f, &logBuffer{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/events?since=7", nil)
	req.Header.Set("Accept", "text/html, text/event-stream;q=0.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q, want text/event-stream", ct)
	}
	var got strings.Builder
	buf := make([]byte, 4096)
	for strings.Count(got.String(), "\n\n") < 4 {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("read %q: %v", got.String(), err)
		}
	}
	blocks := strings.Split(got.String(), "\n\n")
	want := []string{
		`event: missed` + "\n" + `data: {"lostThrough":8}`,
		`data: {"index":8,"time":0,"kind":"task.placed","service":"web","task":"aaaa1111","node":"n1","message":"placed"}`,
		`data: {"index":8,"time":0,"kind":"task.placed","service":"web","task":"aaaa2222","node":"n1","message":"placed"}` + "\nid: 8",
		`data: {"index":9,"time":0,"kind":"task.placed","service":"db","task":"dddd1111","node":"n2","message":"placed"}` + "\nid: 9",
	}
	for i, w := range want {
		if blocks[i] != w {
			t.Errorf("block %d:\n%s\nwant:\n%s", i, blocks[i], w)
		}
	}
}
