package command

import (
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"
)

func endpointsCommand() *cli.Command {
	return &cli.Command{
		Name: "endpoints", Usage: "list where a service's running tasks can be reached: node address and host port per container port, with health",
		ArgsUsage: "SERVICE", Flags: []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			cl, err := clientFor(c, 1)
			if err != nil {
				return err
			}
			ans, err := cl.Endpoints(c.Context, c.Args().First(), nil, 0)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, ans.Endpoints)
			}
			rows := make([][]any, len(ans.Endpoints))
			for i, e := range ans.Endpoints {
				health := "no"
				if e.Healthy {
					health = "yes"
				}
				rows[i] = []any{shortTaskID(e.TaskID), e.NodeName, e.Address + ":" + strconv.Itoa(e.HostPort),
					fmt.Sprintf("%s:%d/%s", e.ContainerName, e.ContainerPort, e.Protocol), health}
			}
			return printTable(c.App.Writer, []string{"TASK", "NODE", "ADDRESS", "CONTAINER", "HEALTHY"}, rows)
		},
	}
}
