package command

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

func (e *env) applyCommand() *cli.Command {
	return &cli.Command{
		Name: "apply", Usage: "create or update services from a service file, a compose file or a directory of them", ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Required: true, Usage: "service file (JSON or YAML) or compose file (compose.yaml, docker-compose.yml ...), - for a service file on standard input, or a directory of such files (*.json, *.yaml, *.yml), all checked before any is applied"},
			&cli.StringFlag{Name: "project", Aliases: []string{"p"}, Usage: "a compose file's project name, which prefixes its services' names (default: the file's name field, else COMPOSE_PROJECT_NAME, else the folder's name)"},
			sourceFlag(),
			&cli.BoolFlag{Name: "prune", Usage: "with a directory, delete the services applied from it that it no longer holds (and no other service)"},
			detachFlag(),
		},
		Action: e.apply,
	}
}

func (e *env) apply(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	path := c.String("file")
	if path != "-" && isDir(path) {
		if c.IsSet("project") {
			return fmt.Errorf("--project applies to one compose file, and %s is a directory", path)
		}
		return e.applyDir(c)
	}
	for _, f := range []string{"source", "prune"} {
		if c.IsSet(f) {
			return fmt.Errorf("--%s applies to a directory of service files, and %s is not one", f, path)
		}
	}
	raw, err := e.readInput(path)
	if err != nil {
		return err
	}
	kind, raw, err := fileKind(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if kind == composeFile {
		if path == "-" {
			return errors.New("-: a compose file is read from its folder, for its .env and the files it names; give its path")
		}
		return applyCompose(c, path)
	}
	if c.IsSet("project") {
		return fmt.Errorf("%s: --project applies to compose files, and this is a service file", path)
	}
	if raw, err = inlineEnvironmentFiles(raw, inputDir(path)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if api.IsScheduleFile(raw) {
		return applySchedule(c, path, raw)
	}
	// Decoding here too gives the service name for the URL and reports bad
	// input before anything is sent; the agent validates again.
	svc, _, _, err := api.DecodeServiceFile(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", c.String("file"), err)
	}
	cl, err := client(c)
	if err != nil {
		return err
	}
	res, err := cl.ApplyService(c.Context, svc.Name, raw)
	if err != nil {
		return err
	}
	warn(c, res.Warnings)
	fmt.Fprintf(c.App.Writer, "service %s: %s, %s\n", res.Service.Name, res.Service.TaskDefinition, desired(res.Service))
	return watchUnlessDetached(c, cl, res.Service)
}

// desired says how many tasks a service keeps: its desired count, or, for
// a daemon, one on every eligible node.
func desired(svc *structs.Service) string {
	if svc.IsDaemon() {
		return "one task on every eligible node that meets its constraints"
	}
	return fmt.Sprintf("desired count %d", svc.DesiredCount)
}

func servicesCommand() *cli.Command {
	return &cli.Command{
		Name: "services", Usage: "list services", ArgsUsage: " ", Flags: []cli.Flag{jsonFlag(), outputFlag(), filterFlag(), clusterFlag()},
		Action: func(c *cli.Context) error {
			tags, err := tagFilters(c)
			if err != nil {
				return err
			}
			fetch := func(cl *api.Client, ctx context.Context) ([]api.ServiceStatus, error) {
				return cl.Services(ctx, tags...)
			}
			return list(c, fetch,
				[]string{"NAME", "TASKDEF", "DESIRED", "RUNNING", "PENDING", "MESSAGE"},
				func(svcs []api.ServiceStatus) ([][]any, error) {
					rows := make([][]any, len(svcs))
					for i, s := range svcs {
						rows[i] = []any{s.Name, s.TaskDefinition, s.DesiredCount, s.Running, s.Pending, s.Message}
					}
					return rows, nil
				})
		},
	}
}

func scaleCommand() *cli.Command {
	return &cli.Command{
		Name: "scale", Usage: "set a service's desired count", ArgsUsage: "SERVICE COUNT",
		Flags: []cli.Flag{detachFlag()},
		Action: func(c *cli.Context) error {
			if err := args(c, 2); err != nil {
				return err
			}
			n, err := strconv.Atoi(c.Args().Get(1))
			if err != nil {
				return fmt.Errorf("COUNT %q: expected a whole number", c.Args().Get(1))
			}
			cl, err := client(c)
			if err != nil {
				return err
			}
			svc, err := cl.Scale(c.Context, c.Args().First(), n)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "service %s: desired count %d\n", svc.Name, svc.DesiredCount)
			return watchUnlessDetached(c, cl, svc)
		},
	}
}

func rmCommand() *cli.Command {
	return &cli.Command{
		Name: "rm", Usage: "delete a service, or every service of a compose project, and stop their tasks", ArgsUsage: "SERVICE",
		Flags: []cli.Flag{&cli.StringFlag{Name: "project", Aliases: []string{"p"}, Usage: "delete every service of this compose project, and the secrets its file made, instead of one service"}},
		Action: func(c *cli.Context) error {
			if c.IsSet("project") {
				if err := args(c, 0); err != nil {
					return fmt.Errorf("rm --project takes no SERVICE")
				}
				return rmProject(c, c.String("project"))
			}
			cl, err := clientFor(c, 1)
			if err != nil {
				return err
			}
			if err := cl.DeleteService(c.Context, c.Args().First()); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "service %s deleted; its tasks are stopping\n", c.Args().First())
			return nil
		},
	}
}

// taskdefsCommand lists the task definition revisions services and
// one-off tasks registered, and registers one.
func (e *env) taskdefsCommand() *cli.Command {
	return &cli.Command{
		Name: "taskdefs", Usage: "list task definition revisions, or register one", ArgsUsage: " ", Flags: []cli.Flag{jsonFlag(), outputFlag()},
		Subcommands: []*cli.Command{{
			Name: "register", Usage: "register an ECS task definition (bare, or as aws ecs describe-task-definition prints it)", ArgsUsage: " ",
			Flags:  []cli.Flag{&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Required: true, Usage: "task definition file (JSON), or - for standard input"}},
			Action: e.registerTaskDef,
		}},
		Action: func(c *cli.Context) error {
			return list(c, (*api.Client).TaskDefinitions,
				[]string{"TASKDEF", "CONTAINERS", "CPU", "MEMORY (MiB)"},
				func(defs []*structs.TaskDefinition) ([][]any, error) {
					rows := make([][]any, len(defs))
					for i, d := range defs {
						names := make([]string, len(d.ContainerDefinitions))
						for j, cd := range d.ContainerDefinitions {
							names[j] = cd.Name + "=" + cd.Image
						}
						rows[i] = []any{d.Ref(), strings.Join(names, " "), d.CPU(), d.MemoryMiB()}
					}
					return rows, nil
				})
		},
	}
}

func (e *env) registerTaskDef(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	raw, err := e.readInput(c.String("file"))
	if err != nil {
		return err
	}
	if raw, err = inlineEnvironmentFiles(raw, inputDir(c.String("file"))); err != nil {
		return fmt.Errorf("%s: %w", c.String("file"), err)
	}
	// Decoding here too reports bad input before anything is sent; the
	// agent validates again.
	if _, _, err := api.DecodeTaskDefinition(raw); err != nil {
		return fmt.Errorf("%s: %w", c.String("file"), err)
	}
	cl, err := client(c)
	if err != nil {
		return err
	}
	res, err := cl.RegisterTaskDefinition(c.Context, raw)
	if err != nil {
		return err
	}
	warn(c, res.Warnings)
	fmt.Fprintf(c.App.Writer, "task definition %s registered\n", res.TaskDefinition.Ref())
	return nil
}
