// Command skiff is a single-binary container orchestrator: `skiff agent`
// runs on every host, and the other commands talk to an agent's API.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "skiff:", err)
		os.Exit(1)
	}
}

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print a JSON array instead of a table"}

func newApp() *cli.App {
	return &cli.App{
		Name:    "skiff",
		Usage:   "a single-binary container orchestrator for small fleets",
		Version: agent.Version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "http://127.0.0.1:7070", EnvVars: []string{"SKIFF_ADDR"}, Usage: "the agent API to talk to"},
			&cli.BoolFlag{Name: "consistent", Usage: "read through the leader instead of the agent's local replica"},
		},
		Commands: []*cli.Command{
			agentCommand(),
			{Name: "apply", Usage: "create or update a service from a service file", ArgsUsage: " ",
				Flags:  []cli.Flag{&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Required: true, Usage: "service file (JSON), or - for standard input"}},
				Action: applyAction},
			runCommand(),
			{Name: "ps", Usage: "list tasks", ArgsUsage: " ",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "service", Usage: "only this service's tasks"},
					&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "include stopped tasks"},
					jsonFlag,
				},
				Action: psAction},
			{Name: "services", Usage: "list services", ArgsUsage: " ", Flags: []cli.Flag{jsonFlag}, Action: servicesAction},
			{Name: "scale", Usage: "set a service's desired count", ArgsUsage: "SERVICE COUNT", Action: scaleAction},
			{Name: "stop", Usage: "stop a task (a service replaces it)", ArgsUsage: "TASK", Action: stopAction},
			{Name: "rm", Usage: "delete a service and stop its tasks", ArgsUsage: "SERVICE", Action: rmAction},
			{Name: "logs", Usage: "print a task container's output", ArgsUsage: "TASK",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep streaming new output"},
					&cli.StringFlag{Name: "container", Usage: "container name (default: the first)"},
				},
				Action: logsAction},
			{Name: "nodes", Usage: "list nodes", ArgsUsage: " ", Flags: []cli.Flag{jsonFlag}, Action: nodesAction},
			{Name: "taskdefs", Usage: "list task definition revisions", ArgsUsage: " ", Flags: []cli.Flag{jsonFlag}, Action: taskdefsAction},
			{Name: "members", Usage: "list the gossip view of the cluster", ArgsUsage: " ", Flags: []cli.Flag{jsonFlag}, Action: membersAction},
			{Name: "raft", Usage: "inspect Raft", Subcommands: []*cli.Command{
				{Name: "peers", Usage: "list Raft servers: voters, non-voters and the leader", ArgsUsage: " ", Flags: []cli.Flag{jsonFlag}, Action: peersAction},
			}},
			{Name: "drain", Usage: "move tasks off a node and keep new work off it", ArgsUsage: "NODE",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "undo", Usage: "make the node eligible again"}},
				Action: drainAction},
			{Name: "leave", Usage: "make the agent at --addr leave the cluster gracefully and stop", ArgsUsage: " ", Action: leaveAction},
		},
	}
}

func client(c *cli.Context) *api.Client {
	cl := api.NewClient(c.String("addr"))
	cl.Consistent = c.Bool("consistent")
	return cl
}

// args checks the count of positional arguments.
func args(c *cli.Context, want int) error {
	if c.NArg() != want {
		return fmt.Errorf("%s takes %d argument(s): %s", c.Command.Name, want, c.Command.ArgsUsage)
	}
	return nil
}

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:      "agent",
		Usage:     "run the agent in the foreground (logs to stderr; SIGINT or SIGTERM stops it)",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dev", Usage: "one-node cluster on 127.0.0.1 that bootstraps itself (implies --bind 127.0.0.1 --bootstrap-expect 1)"},
			&cli.StringFlag{Name: "data-dir", Value: "skiff-data", Usage: "where the node id, the Raft log and snapshots live"},
			&cli.StringFlag{Name: "bind", Usage: "IP to listen on (default 0.0.0.0, or 127.0.0.1 with --dev)"},
			&cli.StringFlag{Name: "advertise", Usage: "IP other agents reach this one on (default: the bind IP, or a private IP of the host)"},
			&cli.IntFlag{Name: "http-port", Value: 7070, Usage: "API port"},
			&cli.IntFlag{Name: "raft-port", Value: 7071, Usage: "Raft port"},
			&cli.IntFlag{Name: "gossip-port", Value: 7946, Usage: "gossip port (UDP and TCP)"},
			&cli.StringSliceFlag{Name: "join", Usage: "HOST[:PORT] of any member to join; retried with backoff until one answers (repeatable)"},
			&cli.IntFlag{Name: "bootstrap-expect", Usage: "how many agents form a new cluster together (default 3, or 1 with --dev)"},
			&cli.IntFlag{Name: "voters", Value: 3, Usage: "how many Raft voters the leader keeps: 3 or 5; later agents are non-voting replicas"},
			&cli.BoolFlag{Name: "leave-on-terminate", Usage: "on SIGTERM, leave the cluster gracefully (hand over leadership, move tasks away) before stopping"},
			&cli.StringFlag{Name: "name", Usage: "node name (default: the host name)"},
			&cli.StringSliceFlag{Name: "attr", Usage: "node attribute KEY=VALUE for placement constraints and spread (repeatable)"},
			&cli.Int64Flag{Name: "cpu", Usage: "cpu units this node offers, 1024 per core (default: all cores)"},
			&cli.Int64Flag{Name: "memory", Usage: "MiB of memory this node offers (default: all memory)"},
			&cli.StringFlag{Name: "port-range", Value: "20000-32767", Usage: "range of dynamic host ports"},
			&cli.DurationFlag{Name: "probe-interval", Value: 500 * time.Millisecond, Usage: "gossip probe interval; a dead host is found after about 4-5 intervals"},
			&cli.DurationFlag{Name: "down-after", Value: 500 * time.Millisecond, Usage: "how long a host must be dead in gossip before its tasks are placed elsewhere"},
			&cli.StringFlag{Name: "runtime", Value: "docker", Usage: "docker, or fake for simulated containers that only exist in memory"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		},
		Action: agentAction,
	}
}

func agentAction(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	dev := c.Bool("dev")
	bind, expect := c.String("bind"), c.Int("bootstrap-expect")
	if bind == "" {
		bind = map[bool]string{true: "127.0.0.1", false: "0.0.0.0"}[dev]
	}
	if net.ParseIP(bind) == nil {
		return fmt.Errorf("--bind %q: expected an IP address", bind)
	}
	if a := c.String("advertise"); a != "" && net.ParseIP(a) == nil {
		return fmt.Errorf("--advertise %q: expected an IP address", a)
	}
	if expect == 0 {
		expect = map[bool]int{true: 1, false: 3}[dev]
	}
	if expect < 1 {
		return fmt.Errorf("--bootstrap-expect %d: expected 1 or more", expect)
	}
	if v := c.Int("voters"); v != 3 && v != 5 {
		return fmt.Errorf("--voters %d: expected 3 or 5", v)
	}
	usedBy := map[int]string{}
	for _, f := range []string{"http-port", "raft-port", "gossip-port"} {
		p := c.Int(f)
		if p < 1 || p > 65535 {
			return fmt.Errorf("--%s %d: expected 1 to 65535", f, p)
		}
		if other, dup := usedBy[p]; dup {
			return fmt.Errorf("--%s %d: already used by --%s", f, p, other)
		}
		usedBy[p] = f
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return fmt.Errorf("--log-level: %q: expected debug, info, warn or error", c.String("log-level"))
	}
	attrs, err := parseAttrs(c.StringSlice("attr"))
	if err != nil {
		return err
	}
	pmin, pmax, err := parsePortRange(c.String("port-range"))
	if err != nil {
		return err
	}
	if c.Int64("cpu") < 0 || c.Int64("memory") < 0 {
		return errors.New("--cpu and --memory: expected a positive number")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	var rt runtime.Runtime
	switch c.String("runtime") {
	case "docker":
		d, err := runtime.NewDocker()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Context, 5*time.Second)
		err = d.Ping(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("the Docker Engine does not answer (is it running, and may this user use its socket?): %w", err)
		}
		defer d.Close()
		rt = d
	case "fake":
		rt = runtime.NewFake()
	default:
		return fmt.Errorf("--runtime: %q: expected docker or fake", c.String("runtime"))
	}
	hostPort := func(flag string) string { return net.JoinHostPort(bind, strconv.Itoa(c.Int(flag))) }
	a, err := agent.New(agent.Config{
		Name: c.String("name"), DataDir: c.String("data-dir"), HTTPAddr: hostPort("http-port"), RaftAddr: hostPort("raft-port"),
		GossipAddr: hostPort("gossip-port"), Advertise: c.String("advertise"), Join: c.StringSlice("join"),
		BootstrapExpect: expect, Voters: c.Int("voters"), ProbeInterval: c.Duration("probe-interval"), DownAfter: c.Duration("down-after"),
		CPU: c.Int64("cpu"), MemoryMiB: c.Int64("memory"), Attributes: attrs, PortMin: pmin, PortMax: pmax, Runtime: rt,
		Logger: log, RaftLog: os.Stderr, Debug: level == slog.LevelDebug,
	})
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
		if s == syscall.SIGTERM && c.Bool("leave-on-terminate") {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := a.Leave(ctx); err != nil {
				log.Warn("leave", "err", err)
			}
			cancel()
		}
	case <-a.Done():
		log.Info("left the cluster; shutting down")
	}
	return a.Close()
}

func parseAttrs(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--attr %q: expected KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

func parsePortRange(s string) (int, int, error) {
	lo, hi, ok := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return 0, 0, fmt.Errorf("--port-range %q: expected LOW-HIGH within 1-65535", s)
	}
	return a, b, nil
}

func readInput(path string) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, api.MaxBodyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > api.MaxBodyBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, api.MaxBodyBytes)
	}
	return b, nil
}

func warn(ws []string) {
	for _, w := range ws {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
}

func applyAction(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	raw, err := readInput(c.String("file"))
	if err != nil {
		return err
	}
	// Decoding here too gives the service name for the URL and reports bad
	// input before anything is sent; the agent validates again.
	svc, _, _, err := api.DecodeServiceFile(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", c.String("file"), err)
	}
	res, err := client(c).ApplyService(c.Context, svc.Name, raw)
	if err != nil {
		return err
	}
	warn(res.Warnings)
	fmt.Printf("service %s: %s, desired count %d\n", res.Service.Name, res.Service.TaskDefinition, res.Service.DesiredCount)
	return nil
}

func runCommand() *cli.Command {
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
		},
		Action: runAction,
	}
}

var nameCleaner = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

func runAction(c *cli.Context) error {
	var raw []byte
	var err error
	if c.String("file") != "" {
		if c.NArg() != 0 {
			return errors.New("run takes either an IMAGE or --file, not both")
		}
		if raw, err = readInput(c.String("file")); err != nil {
			return err
		}
	} else {
		if raw, err = imageTaskDef(c); err != nil {
			return err
		}
	}
	res, err := client(c).Run(c.Context, raw, c.Int("count"))
	if err != nil {
		return err
	}
	warn(res.Warnings)
	for _, t := range res.Tasks {
		fmt.Println(t.ID)
	}
	if res.Failure != "" {
		return errors.New(res.Failure)
	}
	return nil
}

// imageTaskDef builds a one-container ECS task definition from run's
// arguments and flags.
func imageTaskDef(c *cli.Context) ([]byte, error) {
	if c.NArg() == 0 {
		return nil, errors.New("run needs an IMAGE or --file FILE")
	}
	image := c.Args().First()
	name := c.String("name")
	if name == "" {
		base := image
		if i := strings.LastIndex(base, "/"); i >= 0 {
			base = base[i+1:]
		}
		base, _, _ = strings.Cut(base, ":")
		base, _, _ = strings.Cut(base, "@")
		name = strings.Trim(nameCleaner.ReplaceAllString(base, "-"), "-_")
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

// table prints aligned columns.
func table(header ...string) *tabwriter.Writer {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(header, "\t"))
	return w
}

func row(w io.Writer, cols ...any) {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = fmt.Sprint(c)
		if s[i] == "" {
			s[i] = "-"
		}
	}
	fmt.Fprintln(w, strings.Join(s, "\t"))
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func age(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.Since(time.UnixMilli(ms)).Round(time.Second).String()
}

func psAction(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	cl := client(c)
	tasks, err := cl.Tasks(c.Context, c.String("service"), c.Bool("all"))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(tasks)
	}
	names := map[string]string{}
	if nodes, err := cl.Nodes(c.Context); err == nil {
		for _, n := range nodes {
			names[n.ID] = n.Name
		}
	}
	w := table("ID", "SERVICE", "TASKDEF", "NODE", "DESIRED", "LAST", "PORTS", "AGE", "REASON")
	for _, t := range tasks {
		ports := make([]string, len(t.HostPorts))
		for i, p := range t.HostPorts {
			ports[i] = strconv.Itoa(p)
		}
		node := names[t.Node]
		if node == "" {
			node = shortID(t.Node)
		}
		row(w, shortID(t.ID), t.Service, t.TaskDefinition, node, t.DesiredStatus, t.LastStatus, strings.Join(ports, ","), age(t.CreatedAt), t.StopReason)
	}
	return w.Flush()
}

func servicesAction(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	svcs, err := client(c).Services(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(svcs)
	}
	w := table("NAME", "TASKDEF", "DESIRED", "RUNNING", "PENDING", "MESSAGE")
	for _, s := range svcs {
		row(w, s.Name, s.TaskDefinition, s.DesiredCount, s.Running, s.Pending, s.Message)
	}
	return w.Flush()
}

func scaleAction(c *cli.Context) error {
	if err := args(c, 2); err != nil {
		return err
	}
	n, err := strconv.Atoi(c.Args().Get(1))
	if err != nil {
		return fmt.Errorf("COUNT %q: expected a whole number", c.Args().Get(1))
	}
	svc, err := client(c).Scale(c.Context, c.Args().First(), n)
	if err != nil {
		return err
	}
	fmt.Printf("service %s: desired count %d\n", svc.Name, svc.DesiredCount)
	return nil
}

func stopAction(c *cli.Context) error {
	if err := args(c, 1); err != nil {
		return err
	}
	t, err := client(c).Stop(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	fmt.Printf("task %s: desired status %s\n", t.ID, t.DesiredStatus)
	return nil
}

func rmAction(c *cli.Context) error {
	if err := args(c, 1); err != nil {
		return err
	}
	if err := client(c).DeleteService(c.Context, c.Args().First()); err != nil {
		return err
	}
	fmt.Printf("service %s deleted; its tasks are stopping\n", c.Args().First())
	return nil
}

func logsAction(c *cli.Context) error {
	if err := args(c, 1); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	err := client(c).Logs(ctx, c.Args().First(), c.String("container"), c.Bool("follow"), os.Stdout)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func nodesAction(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	cl := client(c)
	nodes, err := cl.Nodes(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(nodes)
	}
	tasks, err := cl.Tasks(c.Context, "", false)
	if err != nil {
		return err
	}
	type use struct {
		cpu, mem int64
		n        int
	}
	used := map[string]*use{}
	for _, t := range tasks {
		u := used[t.Node]
		if u == nil {
			u = &use{}
			used[t.Node] = u
		}
		u.cpu, u.mem, u.n = u.cpu+t.CPU, u.mem+t.MemoryMiB, u.n+1
	}
	w := table("ID", "NAME", "ADDRESS", "STATUS", "ELIGIBILITY", "CPU USED/TOTAL", "MEMORY USED/TOTAL (MiB)", "TASKS")
	for _, n := range nodes {
		u := used[n.ID]
		if u == nil {
			u = &use{}
		}
		row(w, shortID(n.ID), n.Name, n.Address, n.Status, n.Eligibility, fmt.Sprintf("%d/%d", u.cpu, n.CPU), fmt.Sprintf("%d/%d", u.mem, n.MemoryMiB), u.n)
	}
	return w.Flush()
}

func taskdefsAction(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	defs, err := client(c).TaskDefinitions(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(defs)
	}
	w := table("TASKDEF", "CONTAINERS", "CPU", "MEMORY (MiB)")
	for _, d := range defs {
		names := make([]string, len(d.ContainerDefinitions))
		for i, cd := range d.ContainerDefinitions {
			names[i] = cd.Name + "=" + cd.Image
		}
		row(w, d.Ref(), strings.Join(names, " "), d.CPU(), d.MemoryMiB())
	}
	return w.Flush()
}

func membersAction(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	ms, err := client(c).Members(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(ms)
	}
	w := table("NAME", "ID", "ADDRESS", "STATUS", "SINCE", "VERSION")
	for _, m := range ms {
		row(w, m.Name, shortID(m.ID), m.Addr, m.Status, time.Since(m.Since).Round(time.Second), m.Version)
	}
	return w.Flush()
}

func peersAction(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	cl := client(c)
	peers, err := cl.RaftPeers(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(peers)
	}
	names := map[string]string{}
	if nodes, err := cl.Nodes(c.Context); err == nil {
		for _, n := range nodes {
			names[n.ID] = n.Name
		}
	}
	w := table("ID", "NAME", "ADDRESS", "VOTER", "LEADER")
	for _, p := range peers {
		row(w, shortID(p.ID), names[p.ID], p.Address, p.Voter, p.Leader)
	}
	return w.Flush()
}

func drainAction(c *cli.Context) error {
	if err := args(c, 1); err != nil {
		return err
	}
	n, err := client(c).Drain(c.Context, c.Args().First(), !c.Bool("undo"))
	if err != nil {
		return err
	}
	fmt.Printf("node %s: %s\n", n.Name, n.Eligibility)
	return nil
}

func leaveAction(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	if err := client(c).Leave(c.Context); err != nil {
		return err
	}
	fmt.Println("the agent left the cluster and is stopping")
	return nil
}
