package command

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

// secretCommand manages the secrets containers read through their
// definitions' secrets and repositoryCredentials.
func (e *env) secretCommand() *cli.Command {
	return &cli.Command{Name: "secret", Usage: "manage secrets, which containers get as environment variables", Subcommands: []*cli.Command{
		{
			Name: "set", Usage: "create a secret or give it a new value, from a file or the standard input (one trailing newline is dropped)", ArgsUsage: "NAME",
			Flags:  []cli.Flag{&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "read the value from this file instead of the standard input"}},
			Action: e.secretSet,
		},
		{
			Name: "ls", Aliases: []string{"list"}, Usage: "list secrets (never their values)", ArgsUsage: " ", Flags: []cli.Flag{jsonFlag(), outputFlag()},
			Action: func(c *cli.Context) error {
				return list(c, (*api.Client).Secrets, []string{"NAME", "SIZE", "VERSION", "UPDATED", "SERVICES"},
					func(ss []api.SecretInfo) ([][]any, error) {
						now := e.now()
						rows := make([][]any, len(ss))
						for i, s := range ss {
							rows[i] = []any{s.Name, s.Size, s.Version, age(now, s.UpdatedAt), strings.Join(s.UsedBy, ",")}
						}
						return rows, nil
					})
			},
		},
		{
			Name: "rm", Usage: "remove a secret that no service reads", ArgsUsage: "NAME",
			Action: func(c *cli.Context) error {
				cl, err := clientFor(c, 1)
				if err != nil {
					return err
				}
				if err := cl.DeleteSecret(c.Context, c.Args().First()); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "secret %s removed\n", c.Args().First())
				return nil
			},
		},
	}}
}

func (e *env) secretSet(c *cli.Context) error {
	if err := args(c, 1); err != nil {
		return err
	}
	name := c.Args().First()
	if err := structs.CheckSecretName(name); err != nil {
		return fmt.Errorf("secret set: NAME %w", err)
	}
	r, from := e.stdin, "the standard input"
	if path := c.String("file"); path != "" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r, from = f, path
	}
	value, err := io.ReadAll(io.LimitReader(r, structs.MaxSecretBytes+2))
	if err != nil {
		return err
	}
	// A value typed or echoed ends with a newline that nobody means as
	// part of it, as $(cat FILE) drops it in a shell.
	value = bytes.TrimSuffix(value, []byte("\n"))
	value = bytes.TrimSuffix(value, []byte("\r"))
	if len(value) > structs.MaxSecretBytes {
		return fmt.Errorf("secret set: the value from %s is larger than %d bytes", from, structs.MaxSecretBytes)
	}
	cl, err := client(c)
	if err != nil {
		return err
	}
	s, err := cl.SetSecret(c.Context, name, value)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "secret %s set: %d bytes, version %d\n", s.Name, s.Size, s.Version)
	return nil
}
