package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

func (e *env) execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command in a task's container, on whichever node runs it; skiff exits with the command's exit code",
		ArgsUsage: "TASK [--] CMD [ARG...]",
		// -it, as with docker exec.
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "container name (default: the task's first)"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "pass standard input to the command"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the command a terminal (with -i, this terminal is put in raw mode while it runs)"},
		},
		Action: e.exec,
	}
}

func (e *env) exec(c *cli.Context) error {
	if c.NArg() < 2 {
		return fmt.Errorf("exec takes a task and a command: %s", c.Command.ArgsUsage)
	}
	id, cmd := c.Args().First(), c.Args().Tail()
	if cmd[0] == "--" {
		cmd = cmd[1:]
	}
	if len(cmd) == 0 {
		return fmt.Errorf("exec takes a task and a command: %s", c.Command.ArgsUsage)
	}
	cl, err := client(c)
	if err != nil {
		return err
	}
	req := api.ExecRequest{Container: c.String("container"), Cmd: cmd, TTY: c.Bool("tty")}
	stdio := api.ExecIO{Stdout: c.App.Writer, Stderr: c.App.ErrWriter}
	if c.Bool("interactive") {
		stdio.Stdin = e.stdin
	}
	ctx := c.Context
	if req.TTY {
		restore, err := e.terminal(&req, &stdio)
		if err != nil {
			return err
		}
		defer restore()
	} else {
		// Without a terminal, Ctrl-C ends the exec here, as it would end
		// a local command; with one, it is a key the command reads.
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt)
		defer stop()
	}
	code, err := cl.Exec(ctx, id, req, stdio)
	if err != nil && ctx.Err() != nil && c.Context.Err() == nil {
		// Ctrl-C ended it: exit as a shell does for a command ended by
		// SIGINT.
		return cli.Exit("", 130)
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return cli.Exit("", code)
	}
	return nil
}

// terminal prepares the local terminal for an exec with a terminal: its
// size for the command's, its new sizes as the window changes, and, when
// standard input is passed, raw mode, so that every key reaches the
// command. restore puts the terminal back as it was.
func (e *env) terminal(req *api.ExecRequest, stdio *api.ExecIO) (restore func(), err error) {
	restore = func() {}
	out, _ := stdio.Stdout.(*os.File)
	in, _ := e.stdin.(*os.File)
	if stdio.Stdin != nil && (in == nil || !term.IsTerminal(int(in.Fd()))) {
		return restore, errors.New("--tty with --interactive needs a terminal as standard input; leave out -t to pipe input")
	}
	sized := out
	if sized == nil || !term.IsTerminal(int(sized.Fd())) {
		sized = in
	}
	if sized != nil && term.IsTerminal(int(sized.Fd())) {
		if w, h, err := term.GetSize(int(sized.Fd())); err == nil {
			req.Size = structs.TermSize{Rows: uint16(h), Cols: uint16(w)}
		}
		stdio.Resize = watchSize(int(sized.Fd()))
	}
	if stdio.Stdin == nil {
		return restore, nil
	}
	state, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		return restore, fmt.Errorf("--tty: %w", err)
	}
	return func() { _ = term.Restore(int(in.Fd()), state) }, nil
}

// watchSize sends the terminal's size each time its window changes, for
// as long as the process runs: an exec lasts until the command exits.
func watchSize(fd int) <-chan structs.TermSize {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGWINCH)
	out := make(chan structs.TermSize, 1)
	go func() {
		for range sig {
			w, h, err := term.GetSize(fd)
			if err != nil {
				continue
			}
			select {
			case <-out:
			default:
			}
			out <- structs.TermSize{Rows: uint16(h), Cols: uint16(w)}
		}
	}()
	return out
}
