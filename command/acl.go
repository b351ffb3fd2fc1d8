package command

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

// aclCommand manages API tokens.
func aclCommand() *cli.Command {
	return &cli.Command{Name: "acl", Usage: "manage API tokens", Subcommands: []*cli.Command{{
		Name: "token", Usage: "create, list and delete API tokens", Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "make an API token and print its secret (shown this once)", ArgsUsage: " ",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "what the token is for"},
					&cli.BoolFlag{Name: "read-only", Usage: "may list, read and follow logs, nothing else"},
					&cli.BoolFlag{Name: "management", Usage: "may do anything"},
				},
				Action: func(c *cli.Context) error {
					if err := args(c, 0); err != nil {
						return err
					}
					if c.Bool("read-only") == c.Bool("management") {
						return errors.New("acl token create: give exactly one of --read-only and --management")
					}
					policy := structs.PolicyManagement
					if c.Bool("read-only") {
						policy = structs.PolicyReadOnly
					}
					cl, err := client(c)
					if err != nil {
						return err
					}
					t, err := cl.CreateToken(c.Context, c.String("name"), policy)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.ErrWriter, "token %s (%s) created; its secret follows and is not shown again\n", t.AccessorID, t.Policy)
					fmt.Fprintln(c.App.Writer, t.Secret)
					return nil
				},
			},
			{
				Name: "list", Usage: "list API tokens (never their secrets)", ArgsUsage: " ", Flags: []cli.Flag{jsonFlag(), outputFlag()},
				Action: func(c *cli.Context) error {
					return list(c, (*api.Client).Tokens, []string{"ACCESSOR", "POLICY", "NAME"},
						func(ts []api.TokenInfo) ([][]any, error) {
							rows := make([][]any, len(ts))
							for i, t := range ts {
								rows[i] = []any{t.AccessorID, t.Policy, t.Name}
							}
							return rows, nil
						})
				},
			},
			{
				Name: "delete", Usage: "revoke an API token", ArgsUsage: "ACCESSOR",
				Action: func(c *cli.Context) error {
					cl, err := clientFor(c, 1)
					if err != nil {
						return err
					}
					if err := cl.DeleteToken(c.Context, c.Args().First()); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "token %s deleted\n", c.Args().First())
					return nil
				},
			},
		},
	}}}
}
