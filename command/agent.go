package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:      "agent",
		Usage:     "run the agent in the foreground (logs to stderr; SIGINT or SIGTERM stops it)",
		ArgsUsage: " ",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "a YAML or JSON file that sets agent flags by their long names (join: [...], attr: {KEY: VALUE}); the command line and environment variables override it"},
		}, agentFlags()...),
		Action: agentAction,
	}
}

// agentFlags are the flags that configure an agent, which skiff install
// takes too and writes into the agent's config file.
func agentFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "dev", Usage: "one-node cluster on 127.0.0.1 that bootstraps itself (implies --bind 127.0.0.1 --bootstrap-expect 1)"},
		&cli.StringFlag{Name: "data-dir", Value: "skiff-data", Usage: "where the node id, the Raft log and snapshots live"},
		&cli.StringFlag{Name: "bind", Usage: "IP to listen on (default 0.0.0.0, or 127.0.0.1 with --dev)"},
		&cli.StringFlag{Name: "advertise", Usage: "IP other agents reach this one on (default: the bind IP, or a private IP of the host)"},
		&cli.IntFlag{Name: "http-port", Value: 7070, Usage: "API port"},
		&cli.IntFlag{Name: "raft-port", Value: 7071, Usage: "Raft port"},
		&cli.IntFlag{Name: "gossip-port", Value: 7946, Usage: "gossip port (UDP and TCP)"},
		&cli.StringSliceFlag{Name: "join", Usage: "HOST[:PORT] of any member to join; retried with backoff until one answers (repeatable)"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"SKIFF_TOKEN"}, Usage: "the cluster's join token (`skiff token generate`); kept in the data dir, so needed on the first start only; not needed with --dev"},
		&cli.IntFlag{Name: "bootstrap-expect", Usage: "how many agents form a new cluster together", DefaultText: "3, or 1 with --dev"},
		&cli.IntFlag{Name: "voters", Value: 3, Usage: "how many Raft voters the leader keeps: 3 or 5; later agents are non-voting replicas"},
		&cli.BoolFlag{Name: "leave-on-terminate", Usage: "on SIGTERM, leave the cluster gracefully (hand over leadership, move tasks away) before stopping"},
		&cli.StringFlag{Name: "name", Usage: "node name (default: the host name)"},
		&cli.StringSliceFlag{Name: "attr", Usage: "node attribute KEY=VALUE for placement constraints and spread (repeatable)"},
		&cli.StringSliceFlag{Name: "tag", Usage: "node tag KEY=VALUE, which listings filter by with --filter tag:KEY=VALUE (repeatable)"},
		&cli.StringFlag{Name: "cluster", Value: structs.DefaultCluster, Usage: "the pool this node joins: services and tasks run only in the cluster they name"},
		&cli.Int64Flag{Name: "cpu", Usage: "cpu units this node offers, 1024 per core", DefaultText: "all cores"},
		&cli.Int64Flag{Name: "memory", Usage: "MiB of memory this node offers", DefaultText: "all memory"},
		&cli.IntFlag{Name: "gpus", Value: -1, DefaultText: "the host's NVIDIA GPUs", Usage: "GPUs this node offers to tasks that ask for them"},
		&cli.StringFlag{Name: "port-range", Value: "20000-32767", Usage: "range of dynamic host ports"},
		&cli.StringSliceFlag{Name: "allow-host-path", Usage: "host path PREFIX under which tasks may bind mount host volumes (repeatable; default: none, or any with --dev)"},
		&cli.BoolFlag{Name: "allow-privileged", Usage: "run tasks that ask for more of the host than an ordinary container: privileged, host devices, the host's network, PID or IPC namespace, added capabilities, unconfined security options", DefaultText: "no, or yes with --dev"},
		&cli.DurationFlag{Name: "probe-interval", Value: 500 * time.Millisecond, Usage: "gossip probe interval; a dead host is found after about 4-5 intervals"},
		&cli.DurationFlag{Name: "raft-timeout", Value: 500 * time.Millisecond, Usage: "how long followers go without hearing from the Raft leader before electing another; the leader heartbeats two and a half times within it, so a longer one costs an idle leader less CPU and a dead one more time to replace"},
		&cli.DurationFlag{Name: "pending-timeout", Value: 10 * time.Minute, Usage: "how long a service's task may stay PENDING before it is placed again elsewhere"},
		&cli.DurationFlag{Name: "healthy-after", Value: 5 * time.Second, Usage: "how long a deployment's new task without a health check must run before it counts as healthy"},
		&cli.DurationFlag{Name: "deployment-stuck-after", Value: 5 * time.Minute, Usage: "how long a deployment whose new tasks cannot be placed may make no progress before it fails"},
		&cli.DurationFlag{Name: "image-gc-after", Value: time.Hour, Usage: "how long an image must go unused by this node's tasks before it may be removed"},
		&cli.Float64Flag{Name: "image-gc-high", Value: 80, Usage: "how full (percent) the disk of the engine's data root must be before unused images are removed, oldest first; 100 turns it off"},
		&cli.DurationFlag{Name: "rotation-grace", Value: time.Minute, Usage: "after `skiff token rotate`, how long agents still accept the old cluster secret"},
		&cli.DurationFlag{Name: "down-after", Value: 500 * time.Millisecond, Usage: "how long a host must be dead in gossip before its tasks are placed elsewhere"},
		&cli.IntFlag{Name: "dns-port", Value: 8600, Usage: "port of the DNS server on 127.0.0.1 for people and tools; 0 serves none there"},
		&cli.StringFlag{Name: "dns-domain", Value: "skiff", Usage: "the cluster's DNS domain: SERVICE.DOMAIN, TASK-ID.task.DOMAIN, NODE-NAME.node.DOMAIN"},
		&cli.StringSliceFlag{Name: "dns-resolver", Usage: "IP[:PORT] of a resolver that names outside the cluster's domain are forwarded to (repeatable; default: those of /etc/resolv.conf)"},
		&cli.BoolFlag{Name: "dns-containers", Value: true, Usage: "serve DNS on port 53 of the container engine's bridge gateway and make it the resolver of the containers skiff starts, unless their definition names dnsServers or they use the host's network"},
		&cli.DurationFlag{Name: "deregistration-delay", Value: 2 * time.Second, Usage: "how long a running task of a service that is asked to stop (deployment, drain, scale down) stays up, already out of endpoints and DNS answers, before its containers get SIGTERM"},
		&cli.StringFlag{Name: "runtime", Value: "docker", Usage: "docker, or fake for simulated containers that only exist in memory"},
		&cli.StringFlag{Name: "docker-host", Usage: "the Docker Engine's address, unix:///PATH or tcp://HOST:PORT (default: DOCKER_HOST, else the default socket)"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		&cli.BoolFlag{Name: "no-ingress", Usage: "do not serve services' loadBalancers listener ports on this agent"},
		&cli.StringFlag{Name: "ingress-bind", Usage: "IP the loadBalancers listeners listen on (default: the --bind IP)"},
	}
}

// agentAction runs an agent until a signal stops it or it leaves the
// cluster. Every flag is checked before anything starts.
func agentAction(c *cli.Context) error {
	if err := args(c, 0); err != nil {
		return err
	}
	if err := loadConfigFile(c, c.String("config")); err != nil {
		return err
	}
	cfg, err := agentConfig(c)
	if err != nil {
		return err
	}
	switch c.String("runtime") {
	case "docker":
		d, err := runtime.NewDockerAt(c.String("docker-host"))
		if err != nil {
			return err
		}
		defer d.Close()
		ctx, cancel := context.WithTimeout(c.Context, 5*time.Second)
		err = d.Ping(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("the Docker Engine does not answer (is it running, and may this user use its socket?): %w", err)
		}
		cfg.Runtime = d
	case "fake":
		cfg.Runtime = runtime.NewFake()
	}
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		cfg.Logger.Info("shutting down", "signal", s.String())
		if s == syscall.SIGTERM && c.Bool("leave-on-terminate") {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := a.Leave(ctx); err != nil {
				cfg.Logger.Warn("leave", "err", err)
			}
			cancel()
		}
	case <-a.Done():
		cfg.Logger.Info("left the cluster; shutting down")
	}
	return a.Close()
}

// agentConfig checks the agent's flags and turns them into its
// configuration, all but the runtime. The agent logs to the error writer.
func agentConfig(c *cli.Context) (agent.Config, error) {
	dev := c.Bool("dev")
	bind, expect := c.String("bind"), c.Int("bootstrap-expect")
	if bind == "" {
		bind = map[bool]string{true: "127.0.0.1", false: "0.0.0.0"}[dev]
	}
	if net.ParseIP(bind) == nil {
		return agent.Config{}, fmt.Errorf("--bind %q: expected an IP address", bind)
	}
	if a := c.String("advertise"); a != "" && net.ParseIP(a) == nil {
		return agent.Config{}, fmt.Errorf("--advertise %q: expected an IP address", a)
	}
	if expect == 0 {
		expect = map[bool]int{true: 1, false: 3}[dev]
	}
	if expect < 1 {
		return agent.Config{}, fmt.Errorf("--bootstrap-expect %d: expected 1 or more", expect)
	}
	if v := c.Int("voters"); v != 3 && v != 5 {
		return agent.Config{}, fmt.Errorf("--voters %d: expected 3 or 5", v)
	}
	usedBy := map[int]string{}
	for _, f := range []string{"http-port", "raft-port", "gossip-port"} {
		p := c.Int(f)
		if p < 1 || p > 65535 {
			return agent.Config{}, fmt.Errorf("--%s %d: expected 1 to 65535", f, p)
		}
		if other, dup := usedBy[p]; dup {
			return agent.Config{}, fmt.Errorf("--%s %d: already used by --%s", f, p, other)
		}
		usedBy[p] = f
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return agent.Config{}, fmt.Errorf("--log-level: %q: expected debug, info, warn or error", c.String("log-level"))
	}
	attrs, err := parseAttrs(c.StringSlice("attr"))
	if err != nil {
		return agent.Config{}, err
	}
	tags, err := parseTags(c.StringSlice("tag"))
	if err != nil {
		return agent.Config{}, err
	}
	pmin, pmax, err := parsePortRange(c.String("port-range"))
	if err != nil {
		return agent.Config{}, err
	}
	hostPaths := c.StringSlice("allow-host-path")
	for _, p := range hostPaths {
		if !structs.CleanAbsPath(p) {
			return agent.Config{}, fmt.Errorf("--allow-host-path %q: expected a clean absolute path such as /srv", p)
		}
	}
	if c.Int64("cpu") < 0 || c.Int64("memory") < 0 {
		return agent.Config{}, errors.New("--cpu and --memory: expected a positive number")
	}
	if g := c.Int("gpus"); g < -1 {
		return agent.Config{}, fmt.Errorf("--gpus %d: expected 0 or more", g)
	}
	if d := c.Duration("raft-timeout"); d < 100*time.Millisecond {
		return agent.Config{}, fmt.Errorf("--raft-timeout %s: expected 100ms or more", d)
	}
	if d := c.Duration("healthy-after"); d <= 0 {
		return agent.Config{}, fmt.Errorf("--healthy-after %s: expected a duration above 0, such as 5s", d)
	}
	if d := c.Duration("deployment-stuck-after"); d < time.Second {
		return agent.Config{}, fmt.Errorf("--deployment-stuck-after %s: expected 1s or more", d)
	}
	if d := c.Duration("image-gc-after"); d < time.Minute {
		return agent.Config{}, fmt.Errorf("--image-gc-after %s: expected 1m or more", d)
	}
	if h := c.Float64("image-gc-high"); h <= 0 || h > 100 {
		return agent.Config{}, fmt.Errorf("--image-gc-high %g: expected a percentage above 0, at most 100", h)
	}
	dnsAddr := ""
	if p := c.Int("dns-port"); p < 0 || p > 65535 {
		return agent.Config{}, fmt.Errorf("--dns-port %d: expected 1 to 65535, or 0 for none", p)
	} else if other, dup := usedBy[p]; dup {
		return agent.Config{}, fmt.Errorf("--dns-port %d: already used by --%s", p, other)
	} else if p > 0 {
		dnsAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	domain := strings.TrimSuffix(c.String("dns-domain"), ".")
	if !domainRE.MatchString(domain) || len(domain) > 253 {
		return agent.Config{}, fmt.Errorf("--dns-domain %q: expected a domain name such as skiff or cluster.internal", c.String("dns-domain"))
	}
	var resolvers []string
	for _, r := range c.StringSlice("dns-resolver") {
		addr, err := resolverAddr(r)
		if err != nil {
			return agent.Config{}, err
		}
		resolvers = append(resolvers, addr)
	}
	if d := c.Duration("deregistration-delay"); d < 0 {
		return agent.Config{}, fmt.Errorf("--deregistration-delay %s: expected 0 or more", d)
	}
	if rt := c.String("runtime"); rt != "docker" && rt != "fake" {
		return agent.Config{}, fmt.Errorf("--runtime: %q: expected docker or fake", rt)
	}
	if h := c.String("docker-host"); h != "" && !engineAddress(h) {
		return agent.Config{}, fmt.Errorf("--docker-host %q: expected unix:///PATH or tcp://HOST:PORT", h)
	}
	if err := api.CheckCluster("cluster", c.String("cluster")); err != nil {
		return agent.Config{}, fmt.Errorf("--cluster: %w", err)
	}
	ingressBind := c.String("ingress-bind")
	if ingressBind == "" {
		ingressBind = bind
	}
	if net.ParseIP(ingressBind) == nil {
		return agent.Config{}, fmt.Errorf("--ingress-bind %q: expected an IP address", ingressBind)
	}
	hostPort := func(flag string) string { return net.JoinHostPort(bind, strconv.Itoa(c.Int(flag))) }
	return agent.Config{
		Cluster: c.String("cluster"),
		Name:    c.String("name"), DataDir: c.String("data-dir"), HTTPAddr: hostPort("http-port"), RaftAddr: hostPort("raft-port"),
		GossipAddr: hostPort("gossip-port"), Advertise: c.String("advertise"), Join: c.StringSlice("join"), Token: c.String("token"),
		BootstrapExpect: expect, Voters: c.Int("voters"), ProbeInterval: c.Duration("probe-interval"), DownAfter: c.Duration("down-after"),
		RaftTimeout:   c.Duration("raft-timeout"),
		RotationGrace: c.Duration("rotation-grace"), PendingTimeout: c.Duration("pending-timeout"),
		HealthyAfter: c.Duration("healthy-after"), StuckAfter: c.Duration("deployment-stuck-after"),
		ImageGCAfter: c.Duration("image-gc-after"), ImageGCHigh: c.Float64("image-gc-high"),
		CPU: c.Int64("cpu"), MemoryMiB: c.Int64("memory"), GPUs: c.Int("gpus"), Attributes: attrs, PortMin: pmin, PortMax: pmax, AllowHostPaths: hostPaths,
		AllowPrivileged: c.Bool("allow-privileged"), Tags: tags,
		Dev: c.Bool("dev"), Logger: slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level})),
		RaftLog: c.App.ErrWriter, Debug: level == slog.LevelDebug,
		DNSAddr: dnsAddr, DNSDomain: domain, DNSResolvers: resolvers, DNSForContainers: c.Bool("dns-containers"),
		DeregistrationDelay: c.Duration("deregistration-delay"), NoIngress: c.Bool("no-ingress"), IngressBind: ingressBind,
	}, nil
}

// domainRE matches a domain name of letters, digits and inner hyphens.
var domainRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// resolverAddr checks a --dns-resolver, HOST or HOST:PORT with HOST an
// IP, and gives it port 53 when it names none.
func resolverAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.Trim(s, "[]"), "53"
	}
	n, perr := strconv.Atoi(port)
	if net.ParseIP(host) == nil || perr != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("--dns-resolver %q: expected IP or IP:PORT", s)
	}
	return net.JoinHostPort(host, port), nil
}

// engineAddress reports whether s names an engine the way the Docker
// client dials one: a unix socket, or TCP (or a Windows named pipe).
func engineAddress(s string) bool {
	proto, addr, ok := strings.Cut(s, "://")
	return ok && addr != "" && (proto == "unix" || proto == "tcp" || proto == "npipe")
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

// parseTags reads --tag KEY=VALUE flags, in their order, checked as a
// service file's tags are.
func parseTags(kvs []string) ([]structs.Tag, error) {
	var out []structs.Tag
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--tag %q: expected KEY=VALUE", kv)
		}
		out = append(out, structs.Tag{Key: k, Value: v})
	}
	var te *structs.TagError
	if err := structs.ValidateTags(out); errors.As(err, &te) {
		if te.Index < 0 {
			return nil, fmt.Errorf("--tag: %s", te.Message)
		}
		return nil, fmt.Errorf("--tag %q: %s: %s", kvs[te.Index], te.Part, te.Message)
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
