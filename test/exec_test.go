package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestClusterExec runs commands in a task's container through an agent of
// another node, which passes the exec over mutual TLS to the task's node:
// input reaches the command, its output and exit code come back, and the
// fake engine of the task's node is the one that ran it. A read-only token
// may not exec.
func TestClusterExec(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	ctx := context.Background()
	def := `{"family":"box","containerDefinitions":[{"name":"main","image":"img","memory":16},{"name":"side","image":"img","memory":16,"essential":false}]}`
	res, err := c.Members[0].Client().Run(ctx, []byte(def), 1)
	if err != nil || len(res.Tasks) != 1 {
		t.Fatalf("run: %+v %v", res, err)
	}
	id := res.Tasks[0].ID
	var node string
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		tk, err := c.Members[0].Client().Task(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		node = tk.Node
		return tk.LastStatus == structs.StatusRunning, tk.LastStatus
	})
	var runs, other *testcluster.Member
	for _, m := range c.Members {
		if m.Agent().ID() == node {
			runs = m
		} else {
			other = m
		}
	}
	cl := other.Client()
	exec := func(req api.ExecRequest, stdin string) (int, string, string, error) {
		var out, errs bytes.Buffer
		stdio := api.ExecIO{Stdout: &out, Stderr: &errs}
		if stdin != "" {
			stdio.Stdin = strings.NewReader(stdin)
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		code, err := cl.Exec(ctx, id, req, stdio)
		return code, out.String(), errs.String(), err
	}

	if code, out, _, err := exec(api.ExecRequest{Cmd: []string{"cat"}}, "through two agents\n"); err != nil || code != 0 || out != "through two agents\n" {
		t.Fatalf("cat: code %d, stdout %q, err %v", code, out, err)
	}
	if code, _, _, err := exec(api.ExecRequest{Cmd: []string{"exit", "3"}}, ""); err != nil || code != 3 {
		t.Fatalf("exit 3: code %d, err %v", code, err)
	}
	if code, out, errs, err := exec(api.ExecRequest{Container: "side", Cmd: []string{"stderr", "from", "side"}}, ""); err != nil || code != 0 || out != "" || errs != "from side\n" {
		t.Fatalf("stderr in side: code %d, stdout %q, stderr %q, err %v", code, out, errs, err)
	}
	if code, out, _, err := exec(api.ExecRequest{Cmd: []string{"size"}, TTY: true, Size: structs.TermSize{Rows: 30, Cols: 100}}, ""); err != nil || code != 0 || out != "30x100\n" {
		t.Fatalf("size: code %d, stdout %q, err %v", code, out, err)
	}
	if code, _, errs, err := exec(api.ExecRequest{Cmd: []string{"nosuch"}}, ""); err != nil || code != 127 || errs != "nosuch: command not found\n" {
		t.Fatalf("nosuch: code %d, stderr %q, err %v", code, errs, err)
	}
	_, _, _, err = exec(api.ExecRequest{Container: "db", Cmd: []string{"ls"}}, "")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Field != "container" {
		t.Fatalf("a container of no task: %v", err)
	}
	execs := runs.Runtime.Execs()
	if len(execs) != 5 || execs[0].TaskID != id || execs[0].Node != node || execs[2].Container != "side" || !execs[3].TTY {
		t.Errorf("the task's engine ran %+v", execs)
	}
	for _, m := range c.Members {
		if m != runs && len(m.Runtime.Execs()) != 0 {
			t.Errorf("%s's engine ran %+v", m.Name, m.Runtime.Execs())
		}
	}

	tok, err := cl.CreateToken(ctx, "viewer", structs.PolicyReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	ro := other.Client()
	ro.Token = tok.Secret
	// The token reaches the asked agent's replica shortly after its
	// commit; until then the agent does not know it (401).
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		_, err := ro.Exec(ctx, id, api.ExecRequest{Cmd: []string{"echo", "hi"}}, api.ExecIO{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}})
		return errors.As(err, &ae) && ae.Status == 403, fmt.Sprint("exec with a read-only token: ", err)
	})
	if n := len(runs.Runtime.Execs()); n != 5 {
		t.Errorf("the read-only token ran a command: %d execs", n)
	}
}
