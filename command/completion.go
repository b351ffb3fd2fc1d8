package command

import (
	_ "embed"
	"fmt"
	"io"
	"strings"

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

// refuseUnknownSubcommands gives every command that has subcommands and
// no action of its own one that shows its help, or refuses a subcommand
// it lacks as unknownCommand does.
func refuseUnknownSubcommands(cmds []*cli.Command) {
	for _, cmd := range cmds {
		if len(cmd.Subcommands) == 0 {
			continue
		}
		refuseUnknownSubcommands(cmd.Subcommands)
		if cmd.Action != nil {
			continue
		}
		cmd.Action = func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowSubcommandHelp(c)
			}
			return unknownSubcommand(c, strings.TrimPrefix(c.Command.HelpName, c.App.Name+" "), c.Command.Subcommands, c.Args().First())
		}
	}
}

// unknownCommand refuses a command skiff does not have, suggesting the
// nearest one it has. It exits 3, as urfave/cli's own refusal did.
func unknownCommand(c *cli.Context, name string) error {
	return unknownSubcommand(c, "", c.App.VisibleCommands(), name)
}

// unknownSubcommand refuses a subcommand name that parent (a command's
// full name, "" for skiff itself) lacks among cmds.
func unknownSubcommand(c *cli.Context, parent string, cmds []*cli.Command, name string) error {
	what, help := "command", "skiff help"
	if parent != "" {
		what, help = parent+" command", "skiff "+parent+" --help"
	}
	msg := fmt.Sprintf("skiff: unknown %s %q", what, name)
	if cli.SuggestCommand != nil {
		if s := cli.SuggestCommand(cmds, name); s != "" {
			msg += ". " + s
		}
	}
	return cli.Exit(fmt.Sprintf("%s (%s lists them)", msg, help), 3)
}
