package api

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// TestLogOptions checks that the client's log options reach the backend,
// and that bad ones are refused naming the parameter.
func TestLogOptions(t *testing.T) {
	f := newFake()
	srv := serve(t, f, &logBuffer{})
	c := NewClient(srv.URL, nil)
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := c.LogsWith(context.Background(), "aaaa1111", "app", structs.LogOptions{Tail: 5, Since: since, Timestamps: true}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := c.LogsWith(context.Background(), "aaaa1111", "", structs.LogOptions{Tail: 0}, io.Discard); err != nil {
		t.Fatal(err)
	}
	want := []string{"Logs aaaa1111 app false tail=5 since=2026-01-02T03:04:05Z timestamps=true", "Logs aaaa1111  false tail=0 since=0001-01-01T00:00:00Z timestamps=false"}
	if got := f.recorded(); !slices.Equal(got, want) {
		t.Errorf("backend calls %q\nwant %q", got, want)
	}
	for _, tc := range []struct{ query, field, msg string }{
		{"tail=-1", "tail", `"-1": expected a number of lines (0 or more) or all`},
		{"tail=ten", "tail", `"ten": expected a number of lines (0 or more) or all`},
		{"since=10m", "since", `"10m": expected an RFC 3339 time such as 2026-01-02T15:04:05Z`},
		{"timestamps=yes", "timestamps", `"yes": expected 1, 0, true or false`},
	} {
		a := send(t, srv.URL, "GET", "/v1/tasks/aaaa1111/logs?"+tc.query, "", nil)
		var fe FieldError
		if err := json.Unmarshal(a.body, &fe); err != nil || a.status != 400 || fe.Field != tc.field || fe.Message != tc.msg {
			t.Errorf("%s: %d %s", tc.query, a.status, a.body)
		}
	}
	a := send(t, srv.URL, "GET", "/v1/tasks/aaaa1111/logs?tail=all", "", nil)
	if a.status != 200 {
		t.Errorf("tail=all: %d %s", a.status, a.body)
	}
}
