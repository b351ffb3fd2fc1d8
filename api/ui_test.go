package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestUIRoutes checks that the web UI's files are served without a token
// while everything else keeps its authentication: a path that only looks
// like the UI's on its way to /v1 gets no data, and writes under /ui/ are
// refused.
func TestUIRoutes(t *testing.T) {
	f := newFake()
	files := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "file "+r.URL.Path)
	})
	access := map[string]Access{"read": AccessRead}
	srv := httptest.NewServer(NewHandler(f, (&logBuffer{}).logger(), Options{UI: files, Authorize: func(tok string) Access { return access[tok] }}))
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		body, location            string
	}{
		{"the UI needs no token", "GET", "/ui/", "", 200, "file /", ""},
		{"its files neither", "GET", "/ui/app.js", "", 200, "file /app.js", ""},
		{"the root sends browsers to the UI", "GET", "/", "", 302, "", "/ui/"},
		{"the UI's calls need a token", "GET", "/v1/nodes", "", 401, "", ""},
		{"and get data with one", "GET", "/v1/nodes", "read", 200, "", ""},
		{"a dotted path is no UI file", "GET", "/ui/../v1/nodes", "", 401, "", ""},
		{"an encoded dotted path neither", "GET", "/ui/%2e%2e/v1/nodes", "", 401, "", ""},
		{"nor a doubled slash", "GET", "/ui//../v1/nodes", "", 401, "", ""},
		{"writes under the UI need a token", "POST", "/ui/", "", 401, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			if tc.body != "" && string(body) != tc.body {
				t.Fatalf("body %q, want %q", body, tc.body)
			}
			if got := resp.Header.Get("Location"); got != tc.location {
				t.Fatalf("Location %q, want %q", got, tc.location)
			}
		})
	}
}

// TestNoUIWithoutHandler checks that an API built without a UI serves
// none, rather than opening paths that need no token.
func TestNoUIWithoutHandler(t *testing.T) {
	srv := httptest.NewServer(NewHandler(newFake(), (&logBuffer{}).logger(), Options{Authorize: func(string) Access { return AccessNone }}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
}
