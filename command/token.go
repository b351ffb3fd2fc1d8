package command

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/token"
)

// tokenCommand makes, shows and rotates cluster join tokens. Generate and
// show work on this host alone: a token is made before its cluster exists,
// and shown from the data dir of an agent that belongs to one. Rotate asks
// the cluster, with a management token.
func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "make, show or rotate the cluster's join token",
		Subcommands: []*cli.Command{
			{
				Name: "generate", Usage: "print a new join token for a cluster about to be formed; give the same to every agent of --bootstrap-expect",
				ArgsUsage: " ",
				Action: func(c *cli.Context) error {
					if err := args(c, 0); err != nil {
						return err
					}
					s, err := token.Generate()
					if err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, s.String())
					return nil
				},
			},
			{
				Name: "show", Usage: "print the join token of the cluster the agent on this host belongs to", ArgsUsage: " ",
				Flags: []cli.Flag{&cli.StringFlag{Name: "data-dir", Value: "skiff-data", Usage: "the agent's data dir"}},
				Action: func(c *cli.Context) error {
					if err := args(c, 0); err != nil {
						return err
					}
					s, ok, err := token.Load(c.String("data-dir"))
					if err != nil {
						return err
					}
					if !ok {
						return errors.New("no join token in " + c.String("data-dir") + ": the agent there runs with --dev, or never started with --token")
					}
					fmt.Fprintln(c.App.Writer, s.String())
					return nil
				},
			},
			{
				Name: "rotate", ArgsUsage: " ",
				Usage: "replace the cluster secret: agents already in move to the new one; after the agents' --rotation-grace (a minute by default) the old token admits nobody",
				Action: func(c *cli.Context) error {
					cl, err := clientFor(c, 0)
					if err != nil {
						return err
					}
					r, err := cl.RotateToken(c.Context)
					if err != nil {
						return err
					}
					fmt.Fprintln(c.App.ErrWriter, "the cluster secret is rotated; every agent keeps the new token in its data dir, and the bootstrap management token there changed with it")
					fmt.Fprintln(c.App.Writer, r.Token)
					return nil
				},
			},
		},
	}
}
