package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

func (e *env) logsCommand() *cli.Command {
	return &cli.Command{
		Name: "logs", Usage: "print a task container's output, or that of every task of a service (--service)", ArgsUsage: "TASK | --service S",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep streaming new output"},
			&cli.StringFlag{Name: "container", Usage: "container name (default: the first)"},
			&cli.StringFlag{Name: "tail", Value: "all", Usage: "show only the last `N` lines of each container"},
			&cli.StringFlag{Name: "since", Usage: "show only output since a `DURATION` ago (10m, 1h30m) or an RFC 3339 time"},
			&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "start every line with the time it was written"},
			&cli.StringFlag{Name: "service", Usage: "the output of every running task of this service, each line prefixed by its task, instead of one TASK"},
		},
		Action: e.logs,
	}
}

func (e *env) logs(c *cli.Context) error {
	service := c.String("service")
	if service != "" && c.NArg() != 0 {
		return errors.New("logs takes either a TASK or --service, not both")
	}
	if service == "" {
		if err := args(c, 1); err != nil {
			return err
		}
	}
	opts, err := e.logOptions(c)
	if err != nil {
		return err
	}
	// Ctrl-C is how one ends --follow, so it ends the command quietly
	// instead of as an error.
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	cl, err := client(c)
	if err != nil {
		return err
	}
	if service != "" {
		err = serviceLogs(ctx, c, cl, service, opts)
	} else {
		err = cl.LogsWith(ctx, c.Args().First(), c.String("container"), opts, c.App.Writer)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// logOptions reads the flags that choose what of a log to print.
func (e *env) logOptions(c *cli.Context) (structs.LogOptions, error) {
	opts := structs.LogOptions{Follow: c.Bool("follow"), Tail: structs.AllLines, Timestamps: c.Bool("timestamps")}
	if s := c.String("tail"); s != "all" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return opts, fmt.Errorf("--tail %q: expected a number of lines (0 or more) or all", s)
		}
		opts.Tail = n
	}
	if s := c.String("since"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			opts.Since = e.now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			opts.Since = t
		} else {
			return opts, fmt.Errorf("--since %q: expected a duration such as 10m or 1h30m, or an RFC 3339 time such as 2026-01-02T15:04:05Z", s)
		}
	}
	return opts, nil
}

// serviceLogs prints the logs of every running task of a service, each
// line prefixed by the task's short id. Followed, the lines of all tasks
// are printed as they come; otherwise each task's log is read whole, and
// the logs are printed one task after another, or, with timestamps, merged
// in the order of their times. A task whose log cannot be read is reported
// after the others.
func serviceLogs(ctx context.Context, c *cli.Context, cl *api.Client, service string, opts structs.LogOptions) error {
	tasks, err := cl.Tasks(ctx, service, false)
	if err != nil {
		return err
	}
	var running []*structs.Task
	for _, t := range tasks {
		if t.LastStatus == structs.StatusRunning {
			running = append(running, t)
		}
	}
	if len(running) == 0 {
		return fmt.Errorf("service %s has no running task", service)
	}
	out := &lockedWriter{w: c.App.Writer}
	errs := make([]error, len(running))
	bufs := make([]bytes.Buffer, len(running))
	var wg sync.WaitGroup
	for i, t := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w io.Writer = &bufs[i]
			if opts.Follow {
				lw := &lineWriter{prefix: shortTaskID(t.ID) + " | ", out: out}
				defer lw.flush()
				w = lw
			}
			if err := cl.LogsWith(ctx, t.ID, c.String("container"), opts, w); err != nil {
				errs[i] = fmt.Errorf("logs of task %s: %w", shortTaskID(t.ID), err)
			}
		}()
	}
	wg.Wait()
	if !opts.Follow {
		var lines []string
		for i, t := range running {
			for _, l := range strings.SplitAfter(bufs[i].String(), "\n") {
				if l != "" {
					lines = append(lines, shortTaskID(t.ID)+" | "+l)
				}
			}
		}
		if opts.Timestamps {
			sort.SliceStable(lines, func(i, j int) bool { return lineTime(lines[i]).Before(lineTime(lines[j])) })
		}
		for _, l := range lines {
			if !strings.HasSuffix(l, "\n") {
				l += "\n"
			}
			if _, err := io.WriteString(out, l); err != nil {
				return err
			}
		}
	}
	return errors.Join(errs...)
}

// lineTime is the time a prefixed log line starts with, or the zero time
// when it starts with none.
func lineTime(line string) time.Time {
	_, rest, _ := strings.Cut(line, " | ")
	stamp, _, _ := strings.Cut(rest, " ")
	t, _ := time.Parse(time.RFC3339Nano, stamp)
	return t
}

// lockedWriter serializes the writes of several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lockedWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}

// lineWriter writes whole lines to out, each after prefix, keeping a
// partial line until its end comes or flush. It is used by one goroutine;
// out is shared.
type lineWriter struct {
	prefix string
	out    io.Writer
	buf    []byte
}

func (lw *lineWriter) Write(p []byte) (int, error) {
	lw.buf = append(lw.buf, p...)
	for {
		i := bytes.IndexByte(lw.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if _, err := lw.out.Write(append([]byte(lw.prefix), lw.buf[:i+1]...)); err != nil {
			return len(p), err
		}
		lw.buf = lw.buf[i+1:]
	}
}

// flush writes a last line that has no end.
func (lw *lineWriter) flush() {
	if len(lw.buf) > 0 {
		_, _ = lw.out.Write(append(append([]byte(lw.prefix), lw.buf...), '\n'))
		lw.buf = nil
	}
}
