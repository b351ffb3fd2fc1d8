package command

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

func volumesCommand() *cli.Command {
	return &cli.Command{
		Name: "volumes", Usage: "list the volumes skiff made on every node", ArgsUsage: " ", Flags: []cli.Flag{jsonFlag(), outputFlag()},
		Action: func(c *cli.Context) error {
			header := []string{"NODE", "NAME", "VOLUME", "SCOPE", "DRIVER", "SERVICE", "TASK"}
			return list(c, (*api.Client).Volumes, header, func(vols []structs.NodeVolume) ([][]any, error) {
				rows := make([][]any, 0, len(vols))
				for _, v := range vols {
					node := v.NodeName
					if node == "" {
						node = shortID(v.Node)
					}
					// A node that could not be asked is said on standard
					// error, so that the table stays one volume a line.
					if v.Error != "" {
						fmt.Fprintf(c.App.ErrWriter, "skiff: volumes of node %s: %s\n", node, v.Error)
						continue
					}
					rows = append(rows, []any{node, v.Name, v.Volume, v.Scope, v.Driver, v.Service, idCol(v.Task)})
				}
				return rows, nil
			})
		},
	}
}
