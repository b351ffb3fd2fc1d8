package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// withTaskDefs gives the fake's running tasks the definition web:1, whose
// one container is app, as exec needs.
func withTaskDefs(f *fakeBackend) *fakeBackend {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.update(func(s *fakeState) {
		for i, t := range s.tasks {
			c := *t
			c.TaskDefinition = "web:1"
			s.tasks[i] = &c
		}
	})
	return f
}

// execIn runs an exec through the client against srv, with stdin when it
// is not nil.
func execIn(t *testing.T, srv *httptest.Server, token, id string, req ExecRequest, stdin io.Reader, resize <-chan structs.TermSize) (code int, stdout, stderr string, err error) {
	t.Helper()
	c := NewClient(srv.URL, nil)
	c.Token = token
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errs bytes.Buffer
	code, err = c.Exec(ctx, id, req, ExecIO{Stdin: stdin, Stdout: &out, Stderr: &errs, Resize: resize})
	return code, out.String(), errs.String(), err
}

// TestExecStreamsAndExitCode checks that standard input reaches the
// command and ends, that its two output streams arrive apart, and that
// its exit code comes back.
func TestExecStreamsAndExitCode(t *testing.T) {
	f := withTaskDefs(newFake())
	f.exec = func(ctx context.Context, req ExecRequest, stdio ExecIO) (int, error) {
		in, err := io.ReadAll(stdio.Stdin)
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(stdio.Stdout, "got %q\n", in)
		fmt.Fprintln(stdio.Stderr, "to stderr")
		return 3, nil
	}
	srv := serve(t, f, &logBuffer{})
	// More than one message's worth of input, to see it arrive whole.
	input := strings.Repeat("x", 3*execChunk+5)
	code, out, errs, err := execIn(t, srv, "", "1111", ExecRequest{Cmd: []string{"cat", "-"}}, strings.NewReader(input), nil)
	if err != nil || code != 3 {
		t.Fatalf("code %d, err %v; want 3 and no error", code, err)
	}
	if want := fmt.Sprintf("got %q\n", input); out != want || errs != "to stderr\n" {
		t.Errorf("stdout %.60q…, stderr %q", out, errs)
	}
	if got := f.recorded(); !slices.Equal(got, []string{"Exec aaaa1111 app cat - true false"}) {
		t.Errorf("backend calls %q", got)
	}
}

// TestExecTerminalResize checks that the terminal's first size and a new
// one reach the command.
func TestExecTerminalResize(t *testing.T) {
	f := withTaskDefs(newFake())
	f.exec = func(ctx context.Context, req ExecRequest, stdio ExecIO) (int, error) {
		fmt.Fprintf(stdio.Stdout, "%dx%d\n", req.Size.Rows, req.Size.Cols)
		select {
		case sz := <-stdio.Resize:
			fmt.Fprintf(stdio.Stdout, "%dx%d\n", sz.Rows, sz.Cols)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return 0, nil
	}
	srv := serve(t, f, &logBuffer{})
	resize := make(chan structs.TermSize, 1)
	resize <- structs.TermSize{Rows: 50, Cols: 132}
	code, out, _, err := execIn(t, srv, "", "aaaa1111", ExecRequest{Cmd: []string{"sh"}, TTY: true, Size: structs.TermSize{Rows: 24, Cols: 80}}, nil, resize)
	if err != nil || code != 0 || out != "24x80\n50x132\n" {
		t.Fatalf("code %d, err %v, stdout %q; want 0, the two sizes", code, err, out)
	}
	if got := f.recorded(); !slices.Equal(got, []string{"Exec aaaa1111 app sh false true"}) {
		t.Errorf("backend calls %q", got)
	}
}

// TestExecFailure checks that a command the backend could not run ends
// the exec with the backend's error.
func TestExecFailure(t *testing.T) {
	f := withTaskDefs(newFake())
	f.errs["Exec"] = errors.New("container app of task aaaa1111 is not running")
	srv := serve(t, f, &logBuffer{})
	_, _, _, err := execIn(t, srv, "", "aaaa1111", ExecRequest{Cmd: []string{"ls"}}, nil, nil)
	if err == nil || err.Error() != "container app of task aaaa1111 is not running" {
		t.Fatalf("err %v", err)
	}
}

// TestExecProxiedToTheTasksNode runs a command in a task of another node,
// which that node's backend runs.
func TestExecProxiedToTheTasksNode(t *testing.T) {
	other := withTaskDefs(newFake())
	other.health.Node = "n2"
	other.exec = func(ctx context.Context, req ExecRequest, stdio ExecIO) (int, error) {
		in, _ := io.ReadAll(stdio.Stdin)
		fmt.Fprintf(stdio.Stdout, "n2 got %s", in)
		return 7, nil
	}
	otherSrv := serve(t, other, &logBuffer{})

	f := withTaskDefs(newFake())
	f.nodeAPI["n2"] = strings.TrimPrefix(otherSrv.URL, "http://")
	srv := serve(t, f, &logBuffer{})
	code, out, _, err := execIn(t, srv, "", "cccc", ExecRequest{Cmd: []string{"cat"}}, strings.NewReader("hello\n"), nil)
	if err != nil || code != 7 || out != "n2 got hello\n" {
		t.Fatalf("code %d, err %v, stdout %q; want 7 and n2's output", code, err, out)
	}
	if got := f.recorded(); len(got) != 0 {
		t.Errorf("the first node's backend was called: %q", got)
	}
	if got := other.recorded(); !slices.Equal(got, []string{"Exec cccc4444 app cat true false"}) {
		t.Errorf("the task's node got %q", got)
	}
}

// TestExecRefusals checks the answers to execs that cannot run, before
// any upgrade: each names what is wrong.
func TestExecRefusals(t *testing.T) {
	f := withTaskDefs(newFake())
	srv := serve(t, f, &logBuffer{})
	for _, tc := range []struct {
		name, id string
		req      ExecRequest
		status   int
		want     string
	}{
		{"no command", "aaaa1111", ExecRequest{}, 400, "cmd: required: the command to run and its arguments, one cmd parameter each"},
		{"unknown container", "aaaa1111", ExecRequest{Container: "db", Cmd: []string{"ls"}}, 400, `container: "db" is not a container of task definition web:1`},
		{"unknown task", "zzzz", ExecRequest{Cmd: []string{"ls"}}, 404, "task zzzz: not found"},
		{"pending task", "aaaa2222", ExecRequest{Cmd: []string{"ls"}}, 409, "conflict: task aaaa2222 is PENDING: commands run only in a running task's containers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := execIn(t, srv, "", tc.id, tc.req, nil, nil)
			var ae *Error
			if !errors.As(err, &ae) || ae.Status != tc.status || err.Error() != tc.want {
				t.Fatalf("err %v (%#v); want status %d, %q", err, ae, tc.status, tc.want)
			}
		})
	}
	if got := f.recorded(); len(got) != 0 {
		t.Errorf("the backend was called: %q", got)
	}
}

// TestExecNeedsManagementToken runs an exec with a management token and
// is refused one with a read-only token.
func TestExecNeedsManagementToken(t *testing.T) {
	f := withTaskDefs(newFake())
	access := map[string]Access{"read": AccessRead, "write": AccessWrite}
	srv := httptest.NewServer(NewHandler(f, (&logBuffer{}).logger(), Options{Authorize: func(tok string) Access { return access[tok] }}))
	defer srv.Close()
	_, _, _, err := execIn(t, srv, "read", "aaaa1111", ExecRequest{Cmd: []string{"ls"}}, nil, nil)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 403 || !strings.Contains(err.Error(), "needs a management token") {
		t.Fatalf("read-only token: %v", err)
	}
	// An id with an escaped slash reaches exec all the same, and is judged
	// as an exec.
	_, _, _, err = execIn(t, srv, "read", "aaaa/1111", ExecRequest{Cmd: []string{"ls"}}, nil, nil)
	if !errors.As(err, &ae) || ae.Status != 403 || !strings.Contains(err.Error(), "needs a management token") {
		t.Fatalf("read-only token, escaped slash in the id: %v", err)
	}
	code, out, _, err := execIn(t, srv, "write", "aaaa1111", ExecRequest{Cmd: []string{"ls", "-l"}}, nil, nil)
	if err != nil || code != 0 || out != "ran ls -l\n" {
		t.Fatalf("management token: code %d, err %v, stdout %q", code, err, out)
	}
}
