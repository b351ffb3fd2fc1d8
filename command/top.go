package command

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/skiff-run/skiff/structs"
)

func (e *env) topCommand() *cli.Command {
	return &cli.Command{
		Name: "top", Usage: "show what each node and task container uses, live, like docker stats", ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "node", Usage: "only this node (id, id prefix or name)"},
			&cli.DurationFlag{Name: "interval", Value: 2 * time.Second, Usage: "time between refreshes (the agents sample their engines at most every 2s)"},
			&cli.BoolFlag{Name: "no-stream", Usage: "print one sample and exit"},
		},
		Action: e.top,
	}
}

func (e *env) top(c *cli.Context) error {
	cl, err := clientFor(c, 0)
	if err != nil {
		return err
	}
	if c.Duration("interval") < time.Second {
		return fmt.Errorf("--interval %v: expected 1s or more", c.Duration("interval"))
	}
	// Ctrl-C is how one ends top, so it ends the command quietly.
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	w := c.App.Writer
	f, isFile := w.(*os.File)
	clear := isFile && term.IsTerminal(int(f.Fd()))
	tick := time.NewTicker(c.Duration("interval"))
	defer tick.Stop()
	// A container's CPU share is measured between two samples, so the
	// first answer, whose agents may have none before it, is not shown.
	for first := true; ; first = false {
		usage, err := cl.Usage(ctx, c.String("node"))
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if !first || hasSampleBefore(usage) {
			if clear {
				fmt.Fprint(w, "\033[H\033[2J")
			}
			if err := printUsage(w, usage); err != nil {
				return err
			}
			if c.Bool("no-stream") {
				return nil
			}
			if !clear {
				fmt.Fprintln(w)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// hasSampleBefore tells whether the agents had sampled their containers
// before this answer, which shows as a container with a CPU share. A
// cluster with no container never has one, and needs no second sample.
func hasSampleBefore(usage []structs.NodeUsage) bool {
	for _, n := range usage {
		for _, cu := range n.Containers {
			if cu.CPUPercent == 0 {
				return false
			}
		}
	}
	return true
}

func printUsage(w io.Writer, usage []structs.NodeUsage) error {
	var nodes, tasks [][]any
	for _, n := range usage {
		used, mem := fmt.Sprintf("%.0f", n.CPUUsed), mib(n.MemoryUsedBytes)
		if n.Error != "" {
			used, mem = "?", "?"
		}
		nodes = append(nodes, []any{n.NodeName, used, fmt.Sprintf("%d/%d", n.CPUReserved, n.CPU), mem,
			fmt.Sprintf("%d/%d MiB", n.MemoryReservedMiB, n.MemoryMiB), len(n.Containers), n.Error})
		for _, cu := range n.Containers {
			tasks = append(tasks, []any{shortTaskID(cu.Task), cu.Service, cu.Container, n.NodeName, fmt.Sprintf("%.1f%%", cu.CPUPercent),
				mib(cu.MemoryBytes), mib(cu.NetRxBytes) + " / " + mib(cu.NetTxBytes), cu.Restarts})
		}
	}
	if err := printTable(w, []string{"NODE", "CPU USED", "CPU RESERVED/TOTAL", "MEM USED", "MEM RESERVED/TOTAL", "CONTAINERS", "ERROR"}, nodes); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return printTable(w, []string{"TASK", "SERVICE", "CONTAINER", "NODE", "CPU %", "MEM", "NET RX / TX", "RESTARTS"}, tasks)
}

// mib shows a byte count in MiB, to one decimal.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
