package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAuthentication sends every kind of request with every kind of token:
// none or an unknown one gets 401, a read-only one 403 on writes, and no
// token reaches the internal apply, which takes a node certificate (see
// TestInternalApplyByCertificate).
func TestAuthentication(t *testing.T) {
	f := newFake()
	f.internalResult = "ok"
	access := map[string]Access{"read": AccessRead, "write": AccessWrite}
	srv := httptest.NewServer(NewHandler(f, (&logBuffer{}).logger(), Options{Authorize: func(tok string) Access { return access[tok] }}))
	defer srv.Close()
	for _, tc := range []struct {
		name, method, path, token, body string
		header                          string
		status                          int
	}{
		{"health needs nothing", "GET", "/v1/health", "", "", "", 200},
		{"no token", "GET", "/v1/nodes", "", "", "", 401},
		{"unknown token", "GET", "/v1/nodes", "forged", "", "", 401},
		{"read-only reads", "GET", "/v1/nodes", "read", "", "", 200},
		{"metrics need a token", "GET", "/v1/metrics", "", "", "", 401},
		{"read-only scrapes metrics", "GET", "/v1/metrics", "read", "", "", 200},
		{"events need a token", "GET", "/v1/events", "", "", "", 401},
		{"read-only reads events", "GET", "/v1/events", "read", "", "", 200},
		{"read-only cannot save snapshots", "GET", "/v1/snapshot", "read", "", "", 403},
		{"management saves snapshots", "GET", "/v1/snapshot", "write", "", "", 200},
		{"read-only cannot restore snapshots", "PUT", "/v1/snapshot", "read", "{}", "", 403},
		{"read-only token in its own header", "GET", "/v1/tasks", "read", "", TokenHeader, 200},
		{"read-only cannot stop", "POST", "/v1/tasks/t1/stop", "read", "", "", 403},
		{"read-only cannot leave", "POST", "/v1/leave", "read", "", "", 403},
		{"read-only cannot make tokens", "POST", "/v1/acl/tokens", "read", `{"policy":"management"}`, "", 403},
		{"read-only cannot register task definitions", "POST", "/v1/taskdefs", "read", `{"family":"x","containerDefinitions":[{"name":"a","image":"x"}]}`, "", 403},
		{"read-only watches pending tasks", "GET", "/v1/services/web/pending", "read", "", "", 200},
		{"read-only cannot place", "POST", "/v1/tasks/aaaa2222/place", "read", `{"node":"n1"}`, "", 403},
		{"management places", "POST", "/v1/tasks/aaaa2222/place", "write", `{"node":"n1"}`, "", 200},
		{"read-only cannot exec", "GET", "/v1/tasks/aaaa1111/exec?cmd=ls", "read", "", "", 403},
		{"management writes", "DELETE", "/v1/services/web", "write", "", "", 204},
		{"management reads", "GET", "/v1/services", "write", "", "", 200},
		{"management cannot forward commands", "POST", InternalApplyPath, "write", "\x02{}", "", 403},
		{"no certificate on the internal path", "POST", InternalApplyPath, "", "\x02{}", "", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			switch {
			case tc.token != "" && tc.header != "":
				req.Header.Set(tc.header, tc.token)
			case tc.token != "":
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("a 401 without WWW-Authenticate")
			}
		})
	}
}

func TestTokenRoutes(t *testing.T) {
	f := newFake()
	srv := serve(t, f, &logBuffer{})
	c := NewClient(srv.URL, nil)
	ctx := context.Background()
	nt, err := c.CreateToken(ctx, "ci", "read-only")
	if err != nil || nt.Secret != "SKC1-new" || nt.Policy != "read-only" || nt.AccessorID != "acc-1" {
		t.Fatalf("create: %+v %v", nt, err)
	}
	if _, err := c.CreateToken(ctx, "x", "root"); err == nil || !strings.Contains(err.Error(), "policy") {
		t.Fatalf("create with a bad policy: %v", err)
	}
	if _, err := c.CreateToken(ctx, strings.Repeat("n", 129), "read-only"); err == nil || !strings.Contains(err.Error(), "name") {
		t.Fatalf("create with a long name: %v", err)
	}
	list, err := c.Tokens(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := c.DeleteToken(ctx, "acc-1"); err != nil {
		t.Fatal(err)
	}
	want := []string{"CreateToken ci read-only", "DeleteToken acc-1"}
	if got := f.recorded(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("calls %q, want %q", got, want)
	}
}
