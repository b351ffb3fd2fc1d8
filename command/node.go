package command

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

func nodesCommand() *cli.Command {
	return &cli.Command{
		Name: "nodes", Usage: "list nodes", ArgsUsage: " ", Flags: []cli.Flag{jsonFlag(), outputFlag(), filterFlag(), clusterFlag()},
		Action: func(c *cli.Context) error {
			tags, err := tagFilters(c)
			if err != nil {
				return err
			}
			fetch := func(cl *api.Client, ctx context.Context) ([]*structs.Node, error) { return cl.Nodes(ctx, tags...) }
			header := []string{"ID", "NAME", "ADDRESS", "STATUS", "ELIGIBILITY", "CPU USED/TOTAL", "MEMORY USED/TOTAL (MiB)", "TASKS", "DISK"}
			return list(c, fetch, header, func(nodes []*structs.Node) ([][]any, error) {
				used, err := nodeUse(c)
				if err != nil {
					return nil, err
				}
				rows := make([][]any, len(nodes))
				for i, n := range nodes {
					u := used[n.ID]
					status := n.Status
					if n.StatusReason != "" {
						status += " (" + n.StatusReason + ")"
					}
					rows[i] = []any{idCol(n.ID), n.Name, n.Address, status, n.Eligibility, fmt.Sprintf("%d/%d", u.cpu, n.CPU), fmt.Sprintf("%d/%d", u.mem, n.MemoryMiB), u.tasks, disk(n)}
				}
				return rows, nil
			})
		},
	}
}

// disk shows how full a node's engine data root is, "" when the node
// cannot say.
func disk(n *structs.Node) string {
	if n.DiskUsedPercent == 0 {
		return ""
	}
	return fmt.Sprintf("%d%%", n.DiskUsedPercent)
}

// use is what a node's active tasks hold.
type use struct {
	cpu, mem int64
	tasks    int
}

// nodeUse sums the active tasks' cpu and memory by node id.
func nodeUse(c *cli.Context) (map[string]use, error) {
	cl, err := client(c)
	if err != nil {
		return nil, err
	}
	tasks, err := cl.Tasks(c.Context, "", false)
	if err != nil {
		return nil, err
	}
	used := map[string]use{}
	for _, t := range tasks {
		u := used[t.Node]
		used[t.Node] = use{cpu: u.cpu + t.CPU, mem: u.mem + t.MemoryMiB, tasks: u.tasks + 1}
	}
	return used, nil
}

func drainCommand() *cli.Command {
	return &cli.Command{
		Name: "drain", Usage: "move tasks off a node and keep new work off it", ArgsUsage: "NODE",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "undo", Usage: "make the node eligible again"}},
		Action: func(c *cli.Context) error {
			cl, err := clientFor(c, 1)
			if err != nil {
				return err
			}
			n, err := cl.Drain(c.Context, c.Args().First(), !c.Bool("undo"))
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "node %s: %s\n", n.Name, n.Eligibility)
			return nil
		},
	}
}
