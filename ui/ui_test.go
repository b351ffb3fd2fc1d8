package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHandlerServesTheFiles checks that the page, its script and its style
// sheet are served with their types and with the headers that keep other
// sites from framing the UI or running code in it.
func TestHandlerServesTheFiles(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for path, want := range map[string]struct{ ctype, contains string }{
		"/":        {"text/html", `<script src="app.js"`},
		"/app.js":  {"text/javascript", "sessionStorage"},
		"/app.css": {"text/css", "@media (max-width: 720px)"},
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, want.ctype) {
			t.Errorf("%s: Content-Type %q, want %s", path, ct, want.ctype)
		}
		if !strings.Contains(string(body), want.contains) {
			t.Errorf("%s: body lacks %q", path, want.contains)
		}
		for h, v := range map[string]string{"Content-Security-Policy": contentPolicy, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
			if got := resp.Header.Get(h); got != v {
				t.Errorf("%s: %s %q, want %q", path, h, got, v)
			}
		}
	}
	resp, err := http.Get(srv.URL + "/missing.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a missing file: status %d, want 404", resp.StatusCode)
	}
}
