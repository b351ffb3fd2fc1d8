package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/skiff-run/skiff/structs"
)

// ExecSpec is a command to run in a container and the streams it is wired
// to.
type ExecSpec struct {
	Cmd []string
	// TTY gives the command a terminal, of Size when that is set; with
	// one its output is a single stream, written to Stdout.
	TTY  bool
	Size structs.TermSize
	// Resize carries the terminal's new sizes while the command runs; nil
	// when the size never changes.
	Resize <-chan structs.TermSize
	// Stdin, when set, is copied to the command's standard input, which
	// is closed when Stdin ends; nil runs the command without one.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// errNoCommand refuses an exec without a command, which an engine would
// answer with a message that does not say what is missing.
var errNoCommand = errors.New("no command given to run in the container")

// execDone bounds the wait for the engine to record an exec's exit code
// after its output has ended.
const execDone = 10 * time.Second

// Exec implements Runtime through the engine's exec API: it creates the
// exec, attaches to its streams, and reads its exit code once the output
// ends. Only a container labelled as the task's, on node, is entered.
func (d *Docker) Exec(ctx context.Context, node, taskID, name string, spec ExecSpec) (int, error) {
	if taskID == "" {
		return 0, errNoTaskID
	}
	if len(spec.Cmd) == 0 {
		return 0, errNoCommand
	}
	cname := ContainerName(taskID, name)
	info, err := d.cli.ContainerInspect(ctx, cname)
	if err != nil {
		return 0, fmt.Errorf("container %s of task %s: %w", name, taskID, err)
	}
	if info.Config == nil || info.Config.Labels[LabelNode] != node || info.Config.Labels[LabelTask] != taskID {
		return 0, fmt.Errorf("container %s is not task %s's on node %s", cname, taskID, node)
	}
	if info.State == nil || !info.State.Running {
		return 0, fmt.Errorf("container %s of task %s is not running", name, taskID)
	}
	opts := container.ExecOptions{Cmd: spec.Cmd, Tty: spec.TTY, AttachStdin: spec.Stdin != nil, AttachStdout: true, AttachStderr: true}
	var size *[2]uint
	if spec.TTY && spec.Size.Rows > 0 && spec.Size.Cols > 0 {
		size = &[2]uint{uint(spec.Size.Rows), uint(spec.Size.Cols)}
	}
	opts.ConsoleSize = size
	created, err := d.cli.ContainerExecCreate(ctx, cname, opts)
	if err != nil {
		return 0, fmt.Errorf("exec in container %s of task %s: %w", name, taskID, err)
	}
	hr, err := d.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: spec.TTY, ConsoleSize: size})
	if err != nil {
		return 0, fmt.Errorf("exec in container %s of task %s: %w", name, taskID, err)
	}
	// Closing the attached connection is the only way to stop a copy
	// that blocks on it, so it is closed when ctx ends as well as on
	// return.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		hr.Close()
	}()
	if size != nil {
		// Engines before API 1.42 ignore ConsoleSize, and size the
		// terminal only when told to after the start; the command may
		// see 0x0 until then, as it would see any resize.
		_ = d.cli.ContainerExecResize(ctx, created.ID, container.ResizeOptions{Height: size[0], Width: size[1]})
	}
	if spec.Resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-spec.Resize:
					if !ok {
						return
					}
					// A resize that fails (the exec has just ended, say)
					// changes nothing the caller could act on.
					_ = d.cli.ContainerExecResize(ctx, created.ID, container.ResizeOptions{Height: uint(sz.Rows), Width: uint(sz.Cols)})
				case <-done:
					return
				}
			}
		}()
	}
	if spec.Stdin != nil {
		go func() {
			// The copy ends when Stdin does or when the connection is
			// closed; either way the command sees the end of its input.
			_, _ = io.Copy(hr.Conn, spec.Stdin)
			_ = hr.CloseWrite()
		}()
	}
	if spec.TTY {
		_, err = io.Copy(spec.Stdout, hr.Reader)
	} else {
		_, err = stdcopy.StdCopy(spec.Stdout, spec.Stderr, hr.Reader)
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if err != nil {
		return 0, fmt.Errorf("exec in container %s of task %s: output: %w", name, taskID, err)
	}
	return d.execExitCode(ctx, created.ID)
}

// execExitCode waits for the engine to mark an exec whose output has ended
// as no longer running, and returns its exit code.
func (d *Docker) execExitCode(ctx context.Context, id string) (int, error) {
	deadline := time.Now().Add(execDone)
	for {
		ins, err := d.cli.ContainerExecInspect(ctx, id)
		if err != nil {
			return 0, fmt.Errorf("exec %s: %w", shortID(id), err)
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("exec %s: its output ended but it still runs after %v", shortID(id), execDone)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
