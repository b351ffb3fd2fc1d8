package runtime

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// FakeExec is one command a Fake was asked to run.
type FakeExec struct {
	Node, TaskID, Container string
	Cmd                     []string
	TTY                     bool
}

// Execs returns the commands run so far, oldest first.
func (f *Fake) Execs() []FakeExec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FakeExec(nil), f.execs...)
}

// Exec implements Runtime with a few built-in commands, enough to see
// streams and exit codes pass through:
//
//	echo ARGS...   prints its arguments on standard output
//	stderr ARGS... prints its arguments on standard error
//	cat            copies standard input to standard output
//	exit N         exits with code N
//	size           prints the terminal size it starts with and every new
//	               one, as ROWSxCOLS lines, until its input ends
//
// Anything else exits 127 with "command not found", as a shell does.
func (f *Fake) Exec(ctx context.Context, node, taskID, container string, spec ExecSpec) (int, error) {
	if taskID == "" {
		return 0, errNoTaskID
	}
	if len(spec.Cmd) == 0 {
		return 0, errNoCommand
	}
	f.mu.Lock()
	ft := f.tasks[taskID]
	f.mu.Unlock()
	if ft == nil || ft.node != node {
		return 0, fmt.Errorf("no container %s in task %s", container, taskID)
	}
	if !f.isRunning(taskID, container) {
		return 0, fmt.Errorf("container %s of task %s is not running", container, taskID)
	}
	f.mu.Lock()
	f.execs = append(f.execs, FakeExec{Node: node, TaskID: taskID, Container: container, Cmd: append([]string(nil), spec.Cmd...), TTY: spec.TTY})
	f.mu.Unlock()
	stderr := spec.Stderr
	if spec.TTY {
		// A terminal has one output stream.
		stderr = spec.Stdout
	}
	args := spec.Cmd[1:]
	switch spec.Cmd[0] {
	case "echo":
		_, err := fmt.Fprintln(spec.Stdout, strings.Join(args, " "))
		return 0, err
	case "stderr":
		_, err := fmt.Fprintln(stderr, strings.Join(args, " "))
		return 0, err
	case "cat":
		if spec.Stdin == nil {
			return 0, nil
		}
		_, err := io.Copy(spec.Stdout, spec.Stdin)
		return 0, err
	case "exit":
		if len(args) != 1 {
			fmt.Fprintln(stderr, "exit: expected one exit code")
			return 2, nil
		}
		code, err := strconv.Atoi(args[0])
		if err != nil {
			fmt.Fprintf(stderr, "exit: %q is not a number\n", args[0])
			return 2, nil
		}
		return code, nil
	case "size":
		return 0, fakeSize(ctx, spec)
	}
	fmt.Fprintf(stderr, "%s: command not found\n", spec.Cmd[0])
	return 127, nil
}

// fakeSize is the fake's size command.
func fakeSize(ctx context.Context, spec ExecSpec) error {
	if _, err := fmt.Fprintf(spec.Stdout, "%dx%d\n", spec.Size.Rows, spec.Size.Cols); err != nil || spec.Stdin == nil {
		return err
	}
	ended := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, spec.Stdin)
		close(ended)
	}()
	for {
		select {
		case sz, ok := <-spec.Resize:
			if !ok {
				<-ended
				return nil
			}
			if _, err := fmt.Fprintf(spec.Stdout, "%dx%d\n", sz.Rows, sz.Cols); err != nil {
				return err
			}
		case <-ended:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
