package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

func (e *env) deploymentsCommand() *cli.Command {
	return &cli.Command{
		Name: "deployments", Usage: "list deployments, newest first, of every service or of one", ArgsUsage: "[SERVICE]",
		Flags: []cli.Flag{jsonFlag(), outputFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 {
				return fmt.Errorf("expected at most one argument, the service, got %d", c.NArg())
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			cl, err := client(c)
			if err != nil {
				return err
			}
			ds, err := cl.Deployments(c.Context, c.Args().First())
			if err != nil {
				return err
			}
			if format == outputJSON {
				return printJSON(c.App.Writer, ds)
			}
			now := e.now()
			rows := make([][]any, len(ds))
			for i, d := range ds {
				rows[i] = []any{idCol(d.ID), d.Service, d.From, d.To, d.State, d.Desired, d.Pending, d.Running, d.Healthy,
					d.OldRunning, d.Failed, age(now, d.CreatedAt), d.Reason}
			}
			return printRows(c.App.Writer, []string{"ID", "SERVICE", "FROM", "TO", "STATE", "DESIRED", "PENDING", "RUNNING",
				"HEALTHY", "OLD", "FAILED", "AGE", "REASON"}, rows, format == outputWide)
		},
	}
}

func rollbackCommand() *cli.Command {
	return &cli.Command{
		Name: "rollback", Usage: "roll a service back to the revision it ran before, or to one named, as a deployment", ArgsUsage: "SERVICE",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "to", Usage: "the revision to roll back to: a number, or family:revision (default: the one the service's last deployment came from)"},
			detachFlag(),
		},
		Action: func(c *cli.Context) error {
			cl, err := clientFor(c, 1)
			if err != nil {
				return err
			}
			name := c.Args().First()
			svc, err := cl.Service(c.Context, name)
			if err != nil {
				return err
			}
			to, err := rollbackTarget(&svc.Service, c.String("to"))
			if err != nil {
				return err
			}
			out, err := cl.Rollback(c.Context, name, to)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "service %s: rolling back from %s to %s\n", name, svc.TaskDefinition, out.TaskDefinition)
			return watchUnlessDetached(c, cl, out)
		},
	}
}

// rollbackTarget is the revision a rollback goes to: the one given (a
// number is a revision of the service's family), else the one the
// service's last deployment to its current revision came from, else the
// revision before the current one.
func rollbackTarget(svc *structs.Service, to string) (string, error) {
	family, rev, err := structs.ParseTaskDefRef(svc.TaskDefinition)
	if err != nil {
		return "", err
	}
	switch {
	case to != "" && strings.Contains(to, ":"):
		return to, nil
	case to != "":
		n, err := strconv.Atoi(to)
		if err != nil || n < 1 {
			return "", fmt.Errorf("--to %q: expected a revision number or family:revision", to)
		}
		return fmt.Sprintf("%s:%d", family, n), nil
	}
	for i := len(svc.Deployments) - 1; i >= 0; i-- {
		if d := svc.Deployments[i]; d.To == svc.TaskDefinition && d.From != "" && d.From != d.To {
			return d.From, nil
		}
	}
	if rev <= 1 {
		return "", fmt.Errorf("service %s runs %s, the first revision: there is nothing to roll back to", svc.Name, svc.TaskDefinition)
	}
	return fmt.Sprintf("%s:%d", family, rev-1), nil
}

func restartCommand() *cli.Command {
	return &cli.Command{
		Name: "restart", Usage: "replace a service's tasks with new ones of the same revision, as a deployment", ArgsUsage: "SERVICE",
		Flags: []cli.Flag{detachFlag()},
		Action: func(c *cli.Context) error {
			cl, err := clientFor(c, 1)
			if err != nil {
				return err
			}
			out, err := cl.Restart(c.Context, c.Args().First())
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "service %s: restarting %s\n", out.Name, out.TaskDefinition)
			return watchUnlessDetached(c, cl, out)
		},
	}
}

func detachFlag() cli.Flag {
	return &cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return at once instead of watching the deployment"}
}

// pollEvery is how often a watch asks the agent how a deployment goes.
var pollEvery = 500 * time.Millisecond

// errStoppedWatching is what a watch that an interrupt ended returns:
// the deployment goes on.
var errStoppedWatching = errors.New("stopped watching")

// rollout is what a watch saw of a service at one poll.
type rollout struct {
	done bool
	err  error
	line string
	// healthy and desired fill the progress bar.
	healthy, desired int
}

// watchRollout follows the service's move to ref, which the write at
// since (the service's updatedAt, in the leader's milliseconds) asked
// for, until it ends: nil once the service runs its desired count of ref
// alone, an error naming why when its deployment failed or rolled back.
// It prints a progress bar on a terminal and a line per change
// otherwise. An interrupt stops the watch, not the deployment.
func watchRollout(c *cli.Context, cl *api.Client, name, ref string, since int64) error {
	// The write went through the leader, and the agent asked may not have
	// applied it yet: a read of its own replica could find no such service
	// or its old revision. The watch reads through the leader instead.
	leader := *cl
	leader.Consistent = true
	cl = &leader
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	out := newProgress(c.App.Writer, name)
	defer out.finish()
	for {
		r, err := observe(ctx, cl, name, ref, since)
		if err != nil {
			if ctx.Err() != nil && c.Context.Err() == nil {
				return fmt.Errorf("%w; the deployment goes on (see skiff deployments %s)", errStoppedWatching, name)
			}
			return err
		}
		out.show(r)
		switch {
		case r.err != nil:
			return r.err
		case r.done:
			return nil
		}
		select {
		case <-ctx.Done():
			if c.Context.Err() == nil {
				return fmt.Errorf("%w; the deployment goes on (see skiff deployments %s)", errStoppedWatching, name)
			}
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// observe reads the service, its deployment to ref started since, and its
// tasks once, and says where the rollout stands.
func observe(ctx context.Context, cl *api.Client, name, ref string, since int64) (rollout, error) {
	svc, err := cl.Service(ctx, name)
	if err != nil {
		return rollout{}, err
	}
	tasks, err := cl.Tasks(ctx, name, false)
	if err != nil {
		return rollout{}, err
	}
	var dep *structs.Deployment
	for i := len(svc.Deployments) - 1; i >= 0; i-- {
		// A second's slack covers leaders whose clocks differ a little.
		if d := svc.Deployments[i]; d.To == ref && d.CreatedAt >= since-1000 {
			dep = &d
			break
		}
	}
	placed, running, old := 0, 0, 0
	for _, t := range tasks {
		switch {
		case t.TaskDefinition != ref || t.CreatedAt < svc.RestartedAt:
			old++
		case t.DesiredStatus != structs.StatusRunning:
		case t.LastStatus == structs.StatusRunning:
			placed++
			running++
		default:
			placed++
		}
	}
	r := rollout{desired: svc.DesiredCount, healthy: running}
	if dep != nil {
		r.healthy = dep.Healthy
		r.line = fmt.Sprintf("%s %s -> %s: %d placed, %d running, %d healthy of %d; %d old task(s) left", dep.State, dep.From, dep.To,
			dep.Pending+dep.Running, dep.Running, dep.Healthy, dep.Desired, dep.OldRunning)
		if dep.Failed > 0 {
			r.line += fmt.Sprintf("; %d failed", dep.Failed)
		}
	} else {
		r.line = fmt.Sprintf("%s: %d placed, %d running of %d; %d old task(s) left", ref, placed, running, svc.DesiredCount, old)
	}
	if svc.Message != "" {
		r.line += "; waiting: " + svc.Message
	}
	switch {
	case dep != nil && dep.State == structs.DeploymentRolledBack:
		r.err = fmt.Errorf("deployment %s of service %s rolled back: %s", shortID(dep.ID), name, dep.Reason)
	case dep != nil && dep.State == structs.DeploymentFailed:
		r.err = fmt.Errorf("deployment %s of service %s failed: %s", shortID(dep.ID), name, dep.Reason)
	case svc.TaskDefinition != ref:
		r.err = fmt.Errorf("service %s runs %s now, not %s: another change replaced this one", name, svc.TaskDefinition, ref)
	case dep != nil:
		r.done = dep.State == structs.DeploymentCompleted
	case svc.IsDaemon():
		// A daemon has no count to reach: it is done once its tasks run
		// on every node that takes one, which the leader's message says
		// is not so while a node cannot.
		r.done = old == 0 && running > 0 && placed == running && svc.Message == ""
	default:
		// A first apply, or a change that replaces no task, has no
		// deployment: it is done once the desired count runs.
		r.done = old == 0 && running == svc.DesiredCount && placed == running
	}
	return r, nil
}

// progress prints a watch's progress: a bar redrawn in place on a
// terminal, else each new line once.
type progress struct {
	w    io.Writer
	name string
	bar  *progressbar.ProgressBar
	last string
}

func newProgress(w io.Writer, name string) *progress {
	p := &progress{w: w, name: name}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(w), progressbar.OptionSetWidth(20),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *progress) show(r rollout) {
	line := p.name + ": " + r.line
	if p.bar == nil {
		if line != p.last {
			fmt.Fprintln(p.w, line)
		}
		p.last = line
		return
	}
	p.bar.ChangeMax(max(r.desired, 1))
	_ = p.bar.Set(r.healthy)
	p.bar.Describe(line)
	p.last = line
}

// finish leaves the last line on a terminal, where the bar is cleared.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		if p.last != "" {
			fmt.Fprintln(p.w, p.last)
		}
	}
}

// watchUnlessDetached watches the service's rollout to ref unless --detach
// is set.
func watchUnlessDetached(c *cli.Context, cl *api.Client, svc *structs.Service) error {
	if c.Bool("detach") {
		return nil
	}
	return watchRollout(c, cl, svc.Name, svc.TaskDefinition, svc.UpdatedAt)
}
