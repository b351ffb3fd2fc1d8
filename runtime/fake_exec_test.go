package runtime

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// TestFakeExec runs the fake's commands in a running container, and is
// refused one in a container that has exited or a task of another node.
func TestFakeExec(t *testing.T) {
	f := NewFake()
	task := &structs.Task{ID: "t1"}
	def := &structs.TaskDefinition{Family: "f", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{{Name: "a", Image: "i"}, {Name: "b", Image: "i"}}}
	if err := f.Start(context.Background(), TaskSpec{Task: task, Def: def, Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	f.Exit("t1", "b", 0)
	run := func(node, container, stdin string, tty bool, cmd ...string) (int, string, string, error) {
		var out, errs bytes.Buffer
		spec := ExecSpec{Cmd: cmd, TTY: tty, Size: structs.TermSize{Rows: 24, Cols: 80}, Stdout: &out, Stderr: &errs}
		if stdin != "" {
			spec.Stdin = strings.NewReader(stdin)
		}
		code, err := f.Exec(context.Background(), node, "t1", container, spec)
		return code, out.String(), errs.String(), err
	}
	for _, tc := range []struct {
		stdin     string
		tty       bool
		cmd       []string
		code      int
		out, errs string
	}{
		{"", false, []string{"echo", "a", "b"}, 0, "a b\n", ""},
		{"in\n", false, []string{"cat"}, 0, "in\n", ""},
		{"", false, []string{"stderr", "oops"}, 0, "", "oops\n"},
		{"", true, []string{"stderr", "oops"}, 0, "oops\n", ""},
		{"", false, []string{"exit", "9"}, 9, "", ""},
		{"", false, []string{"exit", "x"}, 2, "", "exit: \"x\" is not a number\n"},
		{"", true, []string{"size"}, 0, "24x80\n", ""},
		{"", false, []string{"sh"}, 127, "", "sh: command not found\n"},
	} {
		code, out, errs, err := run("n1", "a", tc.stdin, tc.tty, tc.cmd...)
		if err != nil || code != tc.code || out != tc.out || errs != tc.errs {
			t.Errorf("%q: code %d, stdout %q, stderr %q, err %v; want %d, %q, %q", tc.cmd, code, out, errs, err, tc.code, tc.out, tc.errs)
		}
	}
	if _, _, _, err := run("n1", "b", "", false, "echo"); err == nil || err.Error() != "container b of task t1 is not running" {
		t.Errorf("exec in an exited container: %v", err)
	}
	if _, _, _, err := run("n2", "a", "", false, "echo"); err == nil {
		t.Error("exec in a task of another node ran")
	}
	if _, _, _, err := run("n1", "a", "", false); err != errNoCommand {
		t.Errorf("exec without a command: %v", err)
	}
	if got := len(f.Execs()); got != 8 {
		t.Errorf("%d execs recorded, want the 8 that ran", got)
	}
}
