package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/command"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestExecDocker runs the test image's own binary in a running task's
// container through the engine's exec: input in, both output streams and
// the exit code out, a terminal of the size asked for, and skiff exec
// exiting with the command's code. A container that has exited refuses.
func TestExecDocker(t *testing.T) {
	d := startDockerAgent(t)
	ctx := context.Background()
	def := fmt.Sprintf(`{"family": "execbox", "containerDefinitions": [
	  {"name": "app", "image": %[1]q, "memory": 16, "command": ["/testapp", "serve"]},
	  {"name": "once", "image": %[1]q, "memory": 16, "essential": false, "command": ["/testapp", "say", "done"]}
	]}`, testImage)
	res, err := d.c.Run(ctx, []byte(def), 1)
	if err != nil || len(res.Tasks) != 1 {
		t.Fatalf("run: %+v %v", res, err)
	}
	id := res.Tasks[0].ID
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		got, err := d.c.Task(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		return got.LastStatus == structs.StatusRunning, got.LastStatus + " " + got.StopReason
	})
	exec := func(req api.ExecRequest, stdin string) (int, string, string, error) {
		var out, errs bytes.Buffer
		stdio := api.ExecIO{Stdout: &out, Stderr: &errs}
		if stdin != "" {
			stdio.Stdin = strings.NewReader(stdin)
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		code, err := d.c.Exec(ctx, id, req, stdio)
		return code, out.String(), errs.String(), err
	}

	code, out, errs, err := exec(api.ExecRequest{Cmd: []string{"/testapp", "say", "-stdin", "-stderr", "oops", "-code", "5", "hello"}}, "from stdin\n")
	if err != nil || code != 5 || out != "hello\nfrom stdin\n" || errs != "oops\n" {
		t.Fatalf("say: code %d, stdout %q, stderr %q, err %v; want 5, hello and the input, oops", code, out, errs, err)
	}
	code, out, _, err = exec(api.ExecRequest{Cmd: []string{"/testapp", "size"}, TTY: true, Size: structs.TermSize{Rows: 40, Cols: 120}}, "")
	if err != nil || code != 0 || strings.TrimSpace(out) != "40x120" {
		t.Fatalf("size in a terminal: code %d, stdout %q, err %v", code, out, err)
	}
	code, out, _, err = exec(api.ExecRequest{Cmd: []string{"/testapp", "size"}}, "")
	if err != nil || code != 0 || out != "no terminal\n" {
		t.Fatalf("size without a terminal: code %d, stdout %q, err %v", code, out, err)
	}
	code, _, errs, err = exec(api.ExecRequest{Cmd: []string{"/nosuch"}}, "")
	if err == nil && code == 0 {
		t.Fatalf("a missing binary ran: stderr %q", errs)
	}
	t.Logf("a missing binary: code %d, stderr %q, err %v", code, errs, err)

	// The container that printed and exited has nothing to run commands in.
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		_, _, _, err := exec(api.ExecRequest{Container: "once", Cmd: []string{"/testapp", "say", "hi"}}, "")
		return err != nil && strings.Contains(err.Error(), "is not running"), fmt.Sprint("exec in an exited container: ", err)
	})

	var cliOut, cliErrs bytes.Buffer
	full := []string{"skiff", "--addr", "https://" + d.a.HTTPAddr(), "--cacert", filepath.Join(d.dir, agent.CAFile),
		"--token", d.secret.ManagementToken(), "exec", shortID(id), "--", "/testapp", "say", "-code", "9", "via", "the", "CLI"}
	if code := command.Run(full, &cliOut, &cliErrs); code != 9 || cliOut.String() != "via the CLI\n" {
		t.Fatalf("skiff exec: exit %d, stdout %q, stderr %q; want 9 and the words", code, cliOut.String(), cliErrs.String())
	}
	var ae *api.Error
	_, _, _, err = exec(api.ExecRequest{Container: "nope", Cmd: []string{"ls"}}, "")
	if !errors.As(err, &ae) || ae.Field != "container" {
		t.Fatalf("exec in a container of no task: %v", err)
	}
}

// shortID is the end of a task id that skiff ps shows.
func shortID(id string) string { return id[len(id)-8:] }

// TestExecDockerTerminal runs skiff exec -it in a real terminal, the
// pseudo-terminal script(1) gives it, sized 40x100: the command gets a
// terminal of that size, keys typed reach it through the raw local
// terminal and the container's own line discipline (a line, then Ctrl-D
// to end its input), and the local terminal is back in canonical mode
// afterwards.
func TestExecDockerTerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1), which gives a command a pseudo-terminal, is not installed")
	}
	d := startDockerAgent(t)
	bin := buildSkiff(t)
	ctx := context.Background()
	def := fmt.Sprintf(`{"family": "tty", "containerDefinitions": [{"name": "app", "image": %q, "memory": 16, "command": ["/testapp", "serve"]}]}`, testImage)
	res, err := d.c.Run(ctx, []byte(def), 1)
	if err != nil || len(res.Tasks) != 1 {
		t.Fatalf("run: %+v %v", res, err)
	}
	id := res.Tasks[0].ID
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		got, err := d.c.Task(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		return got.LastStatus == structs.StatusRunning, got.LastStatus + " " + got.StopReason
	})
	skiff := fmt.Sprintf("%s --addr https://%s --cacert %s --token %s", bin, d.a.HTTPAddr(), filepath.Join(d.dir, agent.CAFile), d.secret.ManagementToken())
	inside := "stty rows 40 cols 100; " +
		skiff + " exec -t " + shortID(id) + " -- /testapp size; " +
		skiff + " exec -it " + shortID(id) + " -- /testapp say -stdin -code 6 typed; echo \"exit=$?\"; " +
		"stty -a | grep -o -- '-\\?icanon'"
	cmd := exec.Command(script, "-qec", inside, "/dev/null")
	// The keys come once the exec has put the terminal in raw mode.
	pr, pw := io.Pipe()
	cmd.Stdin = pr
	var out testutil.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(3 * time.Second)
		_, _ = io.WriteString(pw, "a line\r")
		time.Sleep(500 * time.Millisecond)
		_, _ = io.WriteString(pw, "\x04")
		// script reads its input to the end before it ends, so the
		// input ends once the last command has printed.
		for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(out.String(), "canon") && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		pw.Close()
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("script did not end; output so far:\n%s", out.String())
	}
	got := out.String()
	t.Logf("in the terminal:\n%s", got)
	if err != nil {
		t.Fatalf("script: %v", err)
	}
	for _, want := range []string{"40x100", "typed", "a line", "exit=6"} {
		if !strings.Contains(got, want) {
			t.Errorf("the terminal lacks %q", want)
		}
	}
	if strings.Contains(got, "-icanon") || !strings.Contains(got, "icanon") {
		t.Errorf("the terminal was not put back in canonical mode")
	}
}
