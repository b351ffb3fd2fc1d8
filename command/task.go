package command

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

func (e *env) psCommand() *cli.Command {
	return &cli.Command{
		Name: "ps", Usage: "list tasks", ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "service", Usage: "only this service's tasks"},
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "include stopped tasks"},
			jsonFlag(),
			filterFlag(), clusterFlag(),
		},
		Action: e.ps,
	}
}

func (e *env) ps(c *cli.Context) error {
	tags, err := tagFilters(c)
	if err != nil {
		return err
	}
	fetch := func(cl *api.Client, ctx context.Context) ([]*structs.Task, error) {
		return cl.Tasks(ctx, c.String("service"), c.Bool("all"), tags...)
	}
	header := []string{"ID", "SERVICE", "TASKDEF", "NODE", "DESIRED", "LAST", "PORTS", "AGE", "REASON"}
	return list(c, fetch, header, func(tasks []*structs.Task) ([][]any, error) {
		names := nodeNames(c)
		now := e.now()
		rows := make([][]any, len(tasks))
		for i, t := range tasks {
			ports := make([]string, len(t.HostPorts))
			for j, p := range t.HostPorts {
				ports[j] = strconv.Itoa(p)
			}
			node := names[t.Node]
			if node == "" {
				node = shortID(t.Node)
			}
			rows[i] = []any{shortTaskID(t.ID), t.Service, t.TaskDefinition, node, t.DesiredStatus, t.LastStatus, strings.Join(ports, ","), age(now, t.CreatedAt), t.StopReason}
		}
		return rows, nil
	})
}

// nodeNames maps node ids to names for tables that show nodes. The names
// only make a table easier to read, so when the API cannot give them the
// map is empty and the table shows ids instead.
func nodeNames(c *cli.Context) map[string]string {
	names := map[string]string{}
	cl, err := client(c)
	if err != nil {
		return names
	}
	if nodes, err := cl.Nodes(c.Context); err == nil {
		for _, n := range nodes {
			names[n.ID] = n.Name
		}
	}
	return names
}

func stopCommand() *cli.Command {
	return &cli.Command{
		Name: "stop", Usage: "stop a task (a service replaces it)", ArgsUsage: "TASK",
		Action: func(c *cli.Context) error {
			cl, err := clientFor(c, 1)
			if err != nil {
				return err
			}
			t, err := cl.Stop(c.Context, c.Args().First())
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "task %s: desired status %s\n", t.ID, t.DesiredStatus)
			return nil
		},
	}
}

func logsCommand() *cli.Command {
	return &cli.Command{
		Name: "logs", Usage: "print a task container's output", ArgsUsage: "TASK",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep streaming new output"},
			&cli.StringFlag{Name: "container", Usage: "container name (default: the first)"},
		},
		Action: func(c *cli.Context) error {
			if err := args(c, 1); err != nil {
				return err
			}
			// Ctrl-C is how one ends --follow, so it ends the command
			// quietly instead of as an error.
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
			defer stop()
			cl, err := client(c)
			if err != nil {
				return err
			}
			err = cl.Logs(ctx, c.Args().First(), c.String("container"), c.Bool("follow"), c.App.Writer)
			if ctx.Err() != nil {
				return nil
			}
			return err
		},
	}
}
