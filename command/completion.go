package command

import (
	_ "embed"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

// The bash and zsh scripts are urfave/cli's own, which ask the binary for
// the words that may come next (its hidden --generate-bash-completion);
// fish's is generated from the command tree by urfave/cli.
var (
	//go:embed completion/skiff.bash
	bashCompletion string
	//go:embed completion/skiff.zsh
	zshCompletion string
)

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: source <(skiff completion bash), or zsh; skiff completion fish | source",
		ArgsUsage: "bash|zsh|fish",
		Action: func(c *cli.Context) error {
			if err := args(c, 1); err != nil {
				return err
			}
			switch shell := c.Args().First(); shell {
			case "bash":
				_, err := io.WriteString(c.App.Writer, bashCompletion)
				return err
			case "zsh":
				_, err := io.WriteString(c.App.Writer, zshCompletion)
				return err
			case "fish":
				script, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				_, err = io.WriteString(c.App.Writer, script)
				return err
			default:
				return fmt.Errorf("completion: %q is not a shell skiff completes: expected bash, zsh or fish", shell)
			}
		},
	}
}

// unknownCommand refuses a command skiff does not have, suggesting the
// nearest one it has. It exits 3, as urfave/cli's own refusal did.
func unknownCommand(c *cli.Context, name string) error {
	msg := fmt.Sprintf("skiff: unknown command %q", name)
	if cli.SuggestCommand != nil {
		if s := cli.SuggestCommand(c.App.VisibleCommands(), name); s != "" {
			msg += ". " + s
		}
	}
	return cli.Exit(msg+" (skiff help lists every command)", 3)
}
