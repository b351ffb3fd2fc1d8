package command

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/skiff-run/skiff/api"
)

// fakeExec is an agent's exec route: it records the query and token of
// each exec, echoes the standard input it gets after "got ", writes "err"
// on standard error, and exits with the code the test sets.
type fakeExec struct {
	URL  string
	code int
	mu   sync.Mutex
	got  []url.Values
	auth []string
}

func newFakeExec(t *testing.T, code int) *fakeExec {
	f := &fakeExec{code: code}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *fakeExec) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.got = append(f.got, r.URL.Query())
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	if r.URL.Path != "/v1/tasks/f00d/exec" {
		http.Error(w, `{"error":"task zzz: not found"}`, http.StatusNotFound)
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer conn.CloseNow()
	ctx := context.Background()
	var in []byte
	if r.URL.Query().Get("stdin") == "1" {
		for {
			typ, data, err := conn.Read(ctx)
			if err != nil {
				return
			}
			if typ == websocket.MessageText {
				break
			}
			in = append(in, data...)
		}
	}
	_ = conn.Write(ctx, websocket.MessageBinary, append([]byte{api.ExecStdout}, "got "+string(in)...))
	_ = conn.Write(ctx, websocket.MessageBinary, append([]byte{api.ExecStderr}, "err\n"...))
	raw, _ := json.Marshal(api.ExecResult{ExitCode: f.code})
	_ = conn.Write(ctx, websocket.MessageText, raw)
	_ = conn.Close(websocket.StatusNormalClosure, "")
}

func TestExec(t *testing.T) {
	f := newFakeExec(t, 0)
	r := skiff("hello\n", "--addr", f.URL, "--token", "T", "exec", "-i", "--container", "app", "f00d", "--", "cat", "-n")
	if r.code != 0 || r.stdout != "got hello\n" || r.stderr != "err\n" {
		t.Fatalf("exit code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	want := url.Values{"cmd": {"cat", "-n"}, "container": {"app"}, "stdin": {"1"}}
	if !reflect.DeepEqual(f.got, []url.Values{want}) || f.auth[0] != "Bearer T" {
		t.Errorf("queries %v, auth %q; want %v with the token", f.got, f.auth, want)
	}
}

// TestExecExitCode checks that skiff exits with the command's code, and
// that without -i no input is sent.
func TestExecExitCode(t *testing.T) {
	f := newFakeExec(t, 42)
	r := skiff("ignored", "--addr", f.URL, "exec", "f00d", "ls", "/")
	if r.code != 42 || r.stdout != "got " || r.stderr != "err\n" {
		t.Fatalf("exit code %d, stdout %q, stderr %q; want 42", r.code, r.stdout, r.stderr)
	}
	if want := (url.Values{"cmd": {"ls", "/"}}); !reflect.DeepEqual(f.got, []url.Values{want}) {
		t.Errorf("queries %v, want %v", f.got, want)
	}
}

func TestExecRefusals(t *testing.T) {
	f := newFakeExec(t, 0)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"exec", "f00d"}, "skiff: exec takes a task and a command: TASK [--] CMD [ARG...]\n"},
		{[]string{"exec", "f00d", "--"}, "skiff: exec takes a task and a command: TASK [--] CMD [ARG...]\n"},
		{[]string{"exec", "-it", "f00d", "sh"}, "skiff: --tty with --interactive needs a terminal as standard input; leave out -t to pipe input\n"},
		{[]string{"exec", "zzz", "sh"}, "skiff: task zzz: not found\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := skiff("", append([]string{"--addr", f.URL}, tc.args...)...)
			if r.code != 1 || r.stderr != tc.want {
				t.Errorf("exit code %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}
