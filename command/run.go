package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

func (e *env) runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run one-off tasks: of an image (run IMAGE [-- CMD...]) or of a task definition file (run -f FILE)",
		ArgsUsage: "[IMAGE [-- CMD...]]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "ECS task definition file (JSON)"},
			&cli.IntFlag{Name: "count", Value: 1, Usage: "how many tasks"},
			&cli.StringFlag{Name: "name", Usage: "family and container name (default: from the image)"},
			&cli.Int64Flag{Name: "cpu", Usage: "cpu units (1024 = one core)"},
			&cli.Int64Flag{Name: "memory", Value: 128, Usage: "memory limit in MiB"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "environment variable KEY=VALUE (repeatable)"},
			&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "port mapping HOST:CONTAINER or CONTAINER for a dynamic host port (repeatable)"},
			&cli.StringSliceFlag{Name: "node", Usage: "run one task on each node named (id or name; NODE[,NODE...] or repeated), all or none, instead of where the scheduler chooses"},
			&cli.StringFlag{Name: "cluster", Usage: "the cluster (pool) the tasks run in (default: default)"},
		},
		Action: e.runTasks,
	}
}

// runTasks prints the ids of the tasks it started, one a line, and fails when
// some could not be placed.
func (e *env) runTasks(c *cli.Context) error {
	var raw []byte
	var err error
	if c.String("file") != "" {
		if c.NArg() != 0 {
			return errors.New("run takes either an IMAGE or --file, not both")
		}
		if raw, err = e.readInput(c.String("file")); err == nil {
			raw, err = inlineEnvironmentFiles(raw, inputDir(c.String("file")))
		}
	} else {
		raw, err = imageTaskDef(c)
	}
	if err != nil {
		return err
	}
	nodes := c.StringSlice("node")
	if len(nodes) > 0 && c.IsSet("count") {
		return errors.New("run takes either --node, which runs one task on each node named, or --count, not both")
	}
	cl, err := client(c)
	if err != nil {
		return err
	}
	res, err := cl.RunWith(c.Context, raw, api.RunOptions{Count: c.Int("count"), Nodes: nodes, Cluster: c.String("cluster")})
	if err != nil {
		return err
	}
	warn(c, res.Warnings)
	for _, t := range res.Tasks {
		fmt.Fprintln(c.App.Writer, t.ID)
	}
	if res.Failure != "" {
		return errors.New(res.Failure)
	}
	return nil
}

// nameCleaner matches what may not be in a family or container name.
var nameCleaner = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// imageTaskDef builds a one-container ECS task definition from run's
// arguments and flags.
func imageTaskDef(c *cli.Context) ([]byte, error) {
	if c.NArg() == 0 {
		return nil, errors.New("run needs an IMAGE or --file FILE")
	}
	image := c.Args().First()
	name := c.String("name")
	if name == "" {
		name = imageName(image)
	}
	cmd := c.Args().Tail()
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	cd := structs.ContainerDefinition{Name: name, Image: image, CPU: c.Int64("cpu"), Memory: c.Int64("memory"), Command: cmd}
	for _, kv := range c.StringSlice("env") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env %q: expected KEY=VALUE", kv)
		}
		cd.Environment = append(cd.Environment, structs.KeyValue{Name: k, Value: v})
	}
	for _, p := range c.StringSlice("publish") {
		hostS, contS, found := strings.Cut(p, ":")
		if !found {
			hostS, contS = "0", p
		}
		host, err1 := strconv.Atoi(hostS)
		cont, err2 := strconv.Atoi(contS)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("--publish %q: expected HOST:CONTAINER or CONTAINER", p)
		}
		cd.PortMappings = append(cd.PortMappings, structs.PortMapping{ContainerPort: cont, HostPort: host})
	}
	return json.Marshal(structs.TaskDefinition{Family: name, ContainerDefinitions: []structs.ContainerDefinition{cd}})
}

// imageName is the default family and container name for an image: its
// last path element without tag or digest, e.g. "nginx" for
// "docker.io/library/nginx:1.27".
func imageName(image string) string {
	base := image
	if i := strings.LastIndex(base, "/"); i >= 0 {
		base = base[i+1:]
	}
	base, _, _ = strings.Cut(base, ":")
	base, _, _ = strings.Cut(base, "@")
	return strings.Trim(nameCleaner.ReplaceAllString(base, "-"), "-_")
}
