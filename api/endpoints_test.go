package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

func TestEndpointsRoute(t *testing.T) {
	f := newFake()
	f.state.taskdefs[0].ContainerDefinitions[0].PortMappings = []structs.PortMapping{{ContainerPort: 8080}}
	f.state.tasks[0].TaskDefinition, f.state.tasks[0].HostPorts = "web:1", []int{20000}
	srv := serve(t, f, nil)
	a := send(t, srv.URL, http.MethodGet, "/v1/services/web/endpoints", "", nil)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	var got Endpoints
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	// The fake's state has no change indexes: the view's index stands in.
	if got.Index != 7 || a.header.Get(IndexHeader) != "7" {
		t.Fatalf("index %d, header %q: want 7", got.Index, a.header.Get(IndexHeader))
	}
	if len(got.Hash) != 16 {
		t.Fatalf("hash %q: want 16 hex digits", got.Hash)
	}
	if len(got.Endpoints) != 1 || got.Endpoints[0].TaskID != "aaaa1111" || got.Endpoints[0].HostPort != 20000 || got.Endpoints[0].ContainerName != "app" {
		t.Fatalf("endpoints: %s", a.body)
	}
	// A blocking query that no change wakes answers when its wait ends.
	if a := send(t, srv.URL, http.MethodGet, "/v1/services/web/endpoints?index=7&wait=100ms", "", nil); a.status != http.StatusOK {
		t.Fatalf("blocking query that nothing woke: status %d: %s", a.status, a.body)
	}
	// An empty list is a list, for scripts.
	if a := send(t, srv.URL, http.MethodGet, "/v1/services/db/endpoints", "", nil); a.status != http.StatusOK || !strings.Contains(string(a.body), `"endpoints": []`) {
		t.Fatalf("service without endpoints: status %d: %s", a.status, a.body)
	}
}

func TestEndpointsBadInput(t *testing.T) {
	srv := serve(t, newFake(), nil)
	if a := send(t, srv.URL, http.MethodGet, "/v1/services/web/endpoints?index=abc", "", nil); !strings.Contains(string(a.body), "expected a log index") {
		t.Fatalf("index=abc: %s", a.body)
	}
	for _, tc := range []struct {
		query, status, field string
	}{
		{"?index=abc", "400", "index"},
		{"?index=-1", "400", "index"},
		{"?index=1&wait=soon", "400", "wait"},
		{"?index=1&wait=-5s", "400", "wait"},
	} {
		a := send(t, srv.URL, http.MethodGet, "/v1/services/web/endpoints"+tc.query, "", nil)
		var fe FieldError
		_ = json.Unmarshal(a.body, &fe)
		if a.status != http.StatusBadRequest || fe.Field != tc.field || fe.Message == "" {
			t.Errorf("%s: status %d, field %q, message %q: want 400 naming %s", tc.query, a.status, fe.Field, fe.Message, tc.field)
		}
	}
	if a := send(t, srv.URL, http.MethodGet, "/v1/services/nosuch/endpoints", "", nil); a.status != http.StatusNotFound {
		t.Fatalf("unknown service: status %d: %s", a.status, a.body)
	}
	// A watcher sees a service that is not there yet as one without
	// endpoints.
	if a := send(t, srv.URL, http.MethodGet, "/v1/services/nosuch/endpoints?index=1", "", nil); a.status != http.StatusOK || !strings.Contains(string(a.body), `"endpoints": []`) {
		t.Fatalf("blocking query on an unknown service: status %d: %s", a.status, a.body)
	}
}
