package api

import (
	"net/http"
	"testing"
)

func TestUsage(t *testing.T) {
	f := newFake()
	srv := serve(t, f, &logBuffer{})
	a := send(t, srv.URL, http.MethodGet, "/v1/usage", "", nil)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	checkJSON(t, a.body, map[string]any{
		"#":                         2.0,
		"0.node":                    "n1",
		"0.nodeName":                "one",
		"0.cpuUsed":                 512.0,
		"0.containers.0.task":       "aaaa1111",
		"0.containers.0.cpuPercent": 50.0,
		"0.error":                   absent,
		"1.node":                    "n2",
		"1.nodeName":                "two",
		"1.error":                   "~API address is not known",
		"1.containers":              absent,
	})
	a = send(t, srv.URL, http.MethodGet, "/v1/usage?node=one", "", nil)
	checkJSON(t, a.body, map[string]any{"#": 1.0, "0.node": "n1", "0.containers.0.container": "app"})
	if a = send(t, srv.URL, http.MethodGet, "/v1/usage?node=nope", "", nil); a.status != http.StatusNotFound {
		t.Errorf("usage of an unknown node: status %d, want 404", a.status)
	}
}

func TestMetricsRoute(t *testing.T) {
	srv := serve(t, newFake(), &logBuffer{})
	a := send(t, srv.URL, http.MethodGet, "/v1/metrics", "", nil)
	if a.status != http.StatusOK || string(a.body) != "skiff_test 1\n" {
		t.Errorf("status %d, body %q: want the backend's metrics", a.status, a.body)
	}
}
