package test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestMultiHostExec runs a command in a task's container through the agent
// of another host, which passes the exec on over the agents' mutual TLS
// link to the task's host: input in, output and exit code out, and a
// terminal of the size asked for.
func TestMultiHostExec(t *testing.T) {
	f := newFleet(t, 3)
	l := f.leader(nil)
	if _, err := f.client(l).ApplyService(context.Background(), f.prefix, svcFile(f.prefix, 1, testImage)); err != nil {
		t.Fatal(err)
	}
	f.converged(l, 1, nil)
	tasks, err := f.client(l).Tasks(context.Background(), f.prefix, false)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks %+v %v", tasks, err)
	}
	task := tasks[0]
	via := -1
	for i := range f.names {
		if f.nodeID(i) != task.Node {
			via = i
			break
		}
	}
	cl := f.client(via)
	exec := func(req api.ExecRequest, stdin string) (int, string, string, error) {
		var out, errs bytes.Buffer
		stdio := api.ExecIO{Stdout: &out, Stderr: &errs}
		if stdin != "" {
			stdio.Stdin = strings.NewReader(stdin)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		code, err := cl.Exec(ctx, shortID(task.ID), req, stdio)
		return code, out.String(), errs.String(), err
	}
	// The agent asked may not have the task in its replica yet.
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		code, out, errs, err := exec(api.ExecRequest{Cmd: []string{"/testapp", "say", "-stdin", "-stderr", "from afar", "-code", "4", "hello"}}, "over two hosts\n")
		return err == nil && code == 4 && out == "hello\nover two hosts\n" && errs == "from afar\n",
			fmt.Sprintf("code %d, stdout %q, stderr %q, err %v", code, out, errs, err)
	})
	code, out, _, err := exec(api.ExecRequest{Cmd: []string{"/testapp", "size"}, TTY: true, Size: structs.TermSize{Rows: 33, Cols: 99}}, "")
	if err != nil || code != 0 || strings.TrimSpace(out) != "33x99" {
		t.Fatalf("size through another host: code %d, stdout %q, err %v", code, out, err)
	}
}
