package command

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

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
			outputFlag(),
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "print the list again every --interval until Ctrl-C"},
			&cli.DurationFlag{Name: "interval", Value: 2 * time.Second, Usage: "how often --watch prints the list"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("watch") {
				return watch(c, e.ps)
			}
			return e.ps(c)
		},
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
			var node any = names[t.Node]
			if node == "" {
				node = idCol(t.Node)
			}
			rows[i] = []any{taskIDCol(t.ID), t.Service, t.TaskDefinition, node, t.DesiredStatus, t.LastStatus, strings.Join(ports, ","), age(now, t.CreatedAt), t.StopReason}
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
