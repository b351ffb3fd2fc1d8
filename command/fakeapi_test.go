package command

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI is an agent API that gives canned answers, keyed by
// "METHOD /path", and records the requests it gets. A request it has no
// answer for gets a 404 naming it, so a test that forgot one fails loudly.
type fakeAPI struct {
	URL      string
	answers  map[string]answer
	mu       sync.Mutex
	requests []request
}

type answer struct {
	status int
	body   string
}

// request is one request the fake got; uri includes the query.
type request struct {
	method, uri, body string
	// auth is the Authorization header.
	auth string
}

// ok is a 200 answer with a JSON body.
func ok(body string) answer { return answer{http.StatusOK, body} }

func newFakeAPI(t *testing.T, answers map[string]answer) *fakeAPI {
	f := &fakeAPI{answers: answers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, request{method: r.Method, uri: r.URL.RequestURI(), body: string(body), auth: r.Header.Get("Authorization")})
	f.mu.Unlock()
	key := r.Method + " " + r.URL.Path
	a, found := f.answers[key]
	if !found {
		a = answer{http.StatusNotFound, `{"error":"the fake API has no answer for ` + key + `"}`}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

// got returns the requests so far, as "METHOD URI" strings.
func (f *fakeAPI) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.requests))
	for i, r := range f.requests {
		out[i] = r.method + " " + r.uri
	}
	return out
}

// last returns the newest request.
func (f *fakeAPI) last(t *testing.T) request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("the fake API got no request")
	}
	return f.requests[len(f.requests)-1]
}

// now is the clock every test's commands see, so that AGE and SINCE
// columns have fixed values.
var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// result is what one run of the command line did.
type result struct {
	code           int
	stdout, stderr string
}

// skiff runs the command line with args against the agent at addr, with
// stdin as its standard input.
func skiff(stdin string, args ...string) result {
	var out, errs strings.Builder
	e := &env{stdin: strings.NewReader(stdin), now: func() time.Time { return now }}
	code := e.run(append([]string{"skiff"}, args...), &out, &errs)
	return result{code: code, stdout: out.String(), stderr: errs.String()}
}

// skiffAt runs the command line against the fake API f.
func skiffAt(f *fakeAPI, args ...string) result {
	return skiff("", append([]string{"--addr", f.URL}, args...)...)
}

// wantOK fails the test unless the command succeeded with nothing on the
// error writer.
func wantOK(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit code %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
}
