package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v4"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

// TaskDetail is what skiff inspect task prints: the task, its definition
// and node, and, for a task of a service, the scheduler's last
// explanation of what of the service it could not place.
type TaskDetail struct {
	Task           *structs.Task           `json:"task"`
	TaskDefinition *structs.TaskDefinition `json:"taskDefinition,omitempty"`
	Node           *structs.Node           `json:"node,omitempty"`
	// Placement is the explanation as people read it; PlacementFailure
	// is the same with typed reasons.
	Placement        string                    `json:"placement,omitempty"`
	PlacementFailure *structs.PlacementFailure `json:"placementFailure,omitempty"`
	// Events are the newest events about the task, oldest first.
	Events []*structs.Event `json:"events"`
}

// ServiceDetail is what skiff inspect service prints: the service with its
// counts and the scheduler's last explanation (in its message and
// placementFailure), its definition, and its tasks, stopped ones too.
type ServiceDetail struct {
	Service        api.ServiceStatus       `json:"service"`
	TaskDefinition *structs.TaskDefinition `json:"taskDefinition,omitempty"`
	Tasks          []*structs.Task         `json:"tasks"`
	Events         []*structs.Event        `json:"events"`
}

// NodeDetail is what skiff inspect node prints: the node and the tasks
// that hold its resources.
type NodeDetail struct {
	Node   *structs.Node    `json:"node"`
	Tasks  []*structs.Task  `json:"tasks"`
	Events []*structs.Event `json:"events"`
}

func (e *env) inspectCommand() *cli.Command {
	flags := func() []cli.Flag {
		return []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print a JSON object instead of text"},
			&cli.IntFlag{Name: "events", Value: 10, Usage: "how many of the newest events about it to show"},
		}
	}
	return &cli.Command{
		Name:  "inspect",
		Usage: "show everything about a task, a service or a node, with the scheduler's last explanation",
		Subcommands: []*cli.Command{
			{Name: "task", Usage: "a task, its definition, its node and its service's placement", ArgsUsage: "TASK", Flags: flags(),
				Action: func(c *cli.Context) error { return inspect(c, inspectTask) }},
			{Name: "service", Usage: "a service, its definition, deployments, placement and tasks", ArgsUsage: "SERVICE", Flags: flags(),
				Action: func(c *cli.Context) error { return inspect(c, inspectService) }},
			{Name: "node", Usage: "a node (by id, id prefix or name) and its tasks", ArgsUsage: "NODE", Flags: flags(),
				Action: func(c *cli.Context) error { return inspect(c, inspectNode) }},
		},
	}
}

// recentEvents returns the newest --events events of one topic
// ("task:ID"), oldest first. An agent that keeps no events (one older
// than they are) has none to give.
func recentEvents(c *cli.Context, cl *api.Client, topic string) ([]*structs.Event, error) {
	n := c.Int("events")
	if n < 0 {
		return nil, fmt.Errorf("--events %d: expected 0 or more", n)
	}
	out := []*structs.Event{}
	if n == 0 {
		return out, nil
	}
	ans, err := cl.Events(c.Context, api.EventsQuery{Topics: []string{topic}})
	var ae *api.Error
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound && ae.Field == "":
		return out, nil
	case err != nil:
		return nil, err
	}
	if len(ans.Events) > n {
		ans.Events = ans.Events[len(ans.Events)-n:]
	}
	return append(out, ans.Events...), nil
}

// inspect fetches one object's detail and prints it, as JSON with --json
// and otherwise as YAML, whose times are written out.
func inspect(c *cli.Context, fetch func(*cli.Context, *api.Client, string) (any, error)) error {
	cl, err := clientFor(c, 1)
	if err != nil {
		return err
	}
	v, err := fetch(c, cl, c.Args().First())
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, v)
	}
	out, err := readable(v)
	if err != nil {
		return err
	}
	_, err = c.App.Writer.Write(out)
	return err
}

func inspectTask(c *cli.Context, cl *api.Client, id string) (any, error) {
	t, err := cl.Task(c.Context, id)
	if err != nil {
		return nil, err
	}
	d := TaskDetail{Task: t}
	if d.TaskDefinition, err = taskDefinition(c, cl, t.TaskDefinition); err != nil {
		return nil, err
	}
	nodes, err := cl.Nodes(c.Context)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.ID == t.Node {
			d.Node = n
			break
		}
	}
	if t.Service != "" {
		svc, err := cl.Service(c.Context, t.Service)
		var ae *api.Error
		switch {
		case err == nil:
			d.Placement, d.PlacementFailure = svc.Message, svc.PlacementFailure
		case !errors.As(err, &ae) || ae.Status != http.StatusNotFound:
			// A task outlives its deleted service; anything else is a
			// failure to ask.
			return nil, err
		}
	}
	if d.Events, err = recentEvents(c, cl, "task:"+t.ID); err != nil {
		return nil, err
	}
	return d, nil
}

func inspectService(c *cli.Context, cl *api.Client, name string) (any, error) {
	svc, err := cl.Service(c.Context, name)
	if err != nil {
		return nil, err
	}
	d := ServiceDetail{Service: svc}
	if d.TaskDefinition, err = taskDefinition(c, cl, svc.TaskDefinition); err != nil {
		return nil, err
	}
	if d.Tasks, err = cl.Tasks(c.Context, name, true); err != nil {
		return nil, err
	}
	if d.Events, err = recentEvents(c, cl, "service:"+name); err != nil {
		return nil, err
	}
	return d, nil
}

func inspectNode(c *cli.Context, cl *api.Client, ref string) (any, error) {
	nodes, err := cl.Nodes(c.Context)
	if err != nil {
		return nil, err
	}
	n, err := findNode(nodes, ref)
	if err != nil {
		return nil, err
	}
	tasks, err := cl.Tasks(c.Context, "", false)
	if err != nil {
		return nil, err
	}
	d := NodeDetail{Node: n, Tasks: []*structs.Task{}}
	for _, t := range tasks {
		if t.Node == n.ID {
			d.Tasks = append(d.Tasks, t)
		}
	}
	if d.Events, err = recentEvents(c, cl, "node:"+n.ID); err != nil {
		return nil, err
	}
	return d, nil
}

// findNode finds a node by its id, a unique prefix of it, or its name, as
// drain does.
func findNode(nodes []*structs.Node, ref string) (*structs.Node, error) {
	var found []*structs.Node
	for _, n := range nodes {
		if n.ID == ref {
			return n, nil
		}
		if n.Name == ref || (len(ref) >= 4 && strings.HasPrefix(n.ID, ref)) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("node %s: not found", ref)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("node %q matches %d nodes; give the id", ref, len(found))
}

// taskDefinition fetches the revision ref names, or nil when it is no
// longer registered.
func taskDefinition(c *cli.Context, cl *api.Client, ref string) (*structs.TaskDefinition, error) {
	tds, err := cl.TaskDefinitions(c.Context)
	if err != nil {
		return nil, err
	}
	for _, td := range tds {
		if td.Ref() == ref {
			return td, nil
		}
	}
	return nil, nil
}

// readable renders v as YAML in the order of its JSON fields, with every
// field whose name ends in "At" or is "time" and holds Unix milliseconds
// written as a UTC time.
func readable(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	// JSON is YAML, so the YAML parser keeps the fields' order; the
	// styles it records are JSON's flow styles, which block style
	// replaces.
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	blockStyle(&doc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// blockStyle clears the styles of n and the nodes under it, and writes
// out the times of the *At and time fields.
func blockStyle(n *yaml.Node) {
	if n.Kind != yaml.ScalarNode {
		n.Style = 0
	}
	if n.Kind == yaml.ScalarNode && n.Style == yaml.DoubleQuotedStyle {
		// Strings JSON quoted need quotes only where YAML would read
		// them as something else, which the encoder decides.
		n.Style = 0
	}
	for i, child := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 1 {
			if key := n.Content[i-1].Value; (strings.HasSuffix(key, "At") || key == "time") && child.Kind == yaml.ScalarNode {
				if ms, err := strconv.ParseInt(child.Value, 10, 64); err == nil && ms > 0 {
					child.Value = time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
					child.Tag = "!!timestamp"
				}
			}
		}
		blockStyle(child)
	}
}
