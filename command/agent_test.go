package command

import (
	"context"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/structs"
)

// TestAgentFlagErrors covers flags the agent command refuses before it
// starts anything.
func TestAgentFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--voters", "4"}, "--voters 4: expected 3 or 5"},
		{[]string{"--port-range", "9-3"}, `--port-range "9-3": expected LOW-HIGH within 1-65535`},
		{[]string{"--port-range", "0-100"}, `--port-range "0-100": expected LOW-HIGH within 1-65535`},
		{[]string{"--port-range", "20000"}, `--port-range "20000": expected LOW-HIGH within 1-65535`},
		{[]string{"--attr", "x"}, `--attr "x": expected KEY=VALUE`},
		{[]string{"--attr", "=a"}, `--attr "=a": expected KEY=VALUE`},
		{[]string{"--tag", "team"}, `--tag "team": expected KEY=VALUE`},
		{[]string{"--tag", "=ops"}, `--tag "=ops": expected KEY=VALUE`},
		{[]string{"--tag", "team=ops", "--tag", "team=web"}, `--tag "team=web": key: duplicate key "team": each key may appear once`},
		{[]string{"--tag", "aws:owner=me"}, `--tag "aws:owner=me": key: "aws:owner": the prefix aws: is reserved`},
		{[]string{"--bind", "nonsense"}, `--bind "nonsense": expected an IP address`},
		{[]string{"--advertise", "host.example"}, `--advertise "host.example": expected an IP address`},
		{[]string{"--ingress-bind", "all"}, `--ingress-bind "all": expected an IP address`},
		{[]string{"--bootstrap-expect", "-1"}, "--bootstrap-expect -1: expected 1 or more"},
		{[]string{"--http-port", "0"}, "--http-port 0: expected 1 to 65535"},
		{[]string{"--gossip-port", "70000"}, "--gossip-port 70000: expected 1 to 65535"},
		{[]string{"--raft-port", "7070"}, "--raft-port 7070: already used by --http-port"},
		{[]string{"--log-level", "loud"}, `--log-level: "loud": expected debug, info, warn or error`},
		{[]string{"--cpu", "-1"}, "--cpu and --memory: expected a positive number"},
		{[]string{"--memory", "-1"}, "--cpu and --memory: expected a positive number"},
		{[]string{"--gpus", "-2"}, "--gpus -2: expected 0 or more"},
		{[]string{"--runtime", "podman"}, `--runtime: "podman": expected docker or fake`},
		{[]string{"--docker-host", "ftp://engine"}, `--docker-host "ftp://engine": expected unix:///PATH or tcp://HOST:PORT`},
		{[]string{"--docker-host", "/var/run/docker.sock"}, `--docker-host "/var/run/docker.sock": expected unix:///PATH or tcp://HOST:PORT`},
		{[]string{"--allow-host-path", "srv"}, `--allow-host-path "srv": expected a clean absolute path such as /srv`},
		{[]string{"--allow-host-path", "/srv/../etc"}, `--allow-host-path "/srv/../etc": expected a clean absolute path such as /srv`},
		{[]string{"--raft-timeout", "50ms"}, "--raft-timeout 50ms: expected 100ms or more"},
		{[]string{"--healthy-after", "0s"}, "--healthy-after 0s: expected a duration above 0, such as 5s"},
		{[]string{"--deployment-stuck-after", "10ms"}, "--deployment-stuck-after 10ms: expected 1s or more"},
		{[]string{"--image-gc-after", "10s"}, "--image-gc-after 10s: expected 1m or more"},
		{[]string{"--image-gc-high", "0"}, "--image-gc-high 0: expected a percentage above 0, at most 100"},
		{[]string{"--image-gc-high", "101"}, "--image-gc-high 101: expected a percentage above 0, at most 100"},
		{[]string{"--voters", "x"}, `invalid value "x" for flag -voters: parse error`},
		{[]string{"--dns-port", "70000"}, "--dns-port 70000: expected 1 to 65535, or 0 for none"},
		{[]string{"--dns-port", "7070"}, "--dns-port 7070: already used by --http-port"},
		{[]string{"--dns-domain", "-bad-"}, `--dns-domain "-bad-": expected a domain name such as skiff or cluster.internal`},
		{[]string{"--dns-domain", "a..b"}, `--dns-domain "a..b": expected a domain name such as skiff or cluster.internal`},
		{[]string{"--dns-resolver", "resolver.example"}, `--dns-resolver "resolver.example": expected IP or IP:PORT`},
		{[]string{"--dns-resolver", "10.0.0.1:0"}, `--dns-resolver "10.0.0.1:0": expected IP or IP:PORT`},
		{[]string{"--deregistration-delay", "-1s"}, "--deregistration-delay -1s: expected 0 or more"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := skiff("", append([]string{"agent", "--data-dir", t.TempDir()}, tc.args...)...)
			if r.code != 1 || r.stderr != "skiff: "+tc.want+"\n" {
				t.Errorf("got exit code %d, stderr %q; want 1 and %q", r.code, r.stderr, "skiff: "+tc.want+"\n")
			}
		})
	}
}

// agentConfigOf runs the agent command's flag parsing on args, without
// starting an agent. It returns the configuration without its logs, and
// the least level the agent logs at.
func agentConfigOf(t *testing.T, args ...string) (agent.Config, slog.Level) {
	t.Helper()
	cmd := agentCommand()
	var cfg agent.Config
	var err error
	cmd.Action = func(c *cli.Context) error {
		cfg, err = agentConfig(c)
		return err
	}
	var logs strings.Builder
	app := &cli.App{Name: "skiff", ErrWriter: &logs, Commands: []*cli.Command{cmd}}
	if err := app.Run(append([]string{"skiff", "agent"}, args...)); err != nil {
		t.Fatal(err)
	}
	if cfg.RaftLog != &logs {
		t.Errorf("RaftLog is %v, want the error writer", cfg.RaftLog)
	}
	level := slog.LevelError
	for _, l := range []slog.Level{slog.LevelWarn, slog.LevelInfo, slog.LevelDebug} {
		if cfg.Logger.Enabled(context.Background(), l) {
			level = l
		}
	}
	cfg.Logger.Info("hello")
	if !strings.Contains(logs.String(), "msg=hello") {
		t.Errorf("the agent's log went elsewhere than the error writer: %q", logs.String())
	}
	cfg.Logger, cfg.RaftLog = nil, nil
	return cfg, level
}

func TestAgentConfigDefaults(t *testing.T) {
	cfg, level := agentConfigOf(t)
	want := agent.Config{
		DataDir: "skiff-data", HTTPAddr: "0.0.0.0:7070", RaftAddr: "0.0.0.0:7071", GossipAddr: "0.0.0.0:7946",
		BootstrapExpect: 3, Voters: 3, ProbeInterval: 500 * time.Millisecond, DownAfter: 500 * time.Millisecond, RaftTimeout: 500 * time.Millisecond,
		RotationGrace: time.Minute, PendingTimeout: 10 * time.Minute, HealthyAfter: 5 * time.Second, StuckAfter: 5 * time.Minute, GPUs: -1, Attributes: map[string]string{}, PortMin: 20000, PortMax: 32767,
		ImageGCAfter: time.Hour, ImageGCHigh: 80, Cluster: "default",
		DNSAddr: "127.0.0.1:8600", DNSDomain: "skiff", DNSForContainers: true, DeregistrationDelay: 2 * time.Second,
		IngressBind: "0.0.0.0",
	}
	if !reflect.DeepEqual(cfg, want) || level != slog.LevelInfo {
		t.Errorf("got %+v at level %v\nwant %+v at info", cfg, level, want)
	}
}

func TestAgentConfigFlags(t *testing.T) {
	cfg, level := agentConfigOf(t, "--dev", "--name", "pi-1", "--data-dir", "/var/lib/skiff", "--advertise", "10.0.0.1",
		"--http-port", "8080", "--join", "10.0.0.2", "--join", "10.0.0.3:7946", "--voters", "5",
		"--attr", "zone=a", "--attr", "disk=", "--cpu", "2048", "--memory", "512", "--gpus", "2", "--port-range", "30000-30010",
		"--probe-interval", "1s", "--down-after", "2s", "--raft-timeout", "2s", "--rotation-grace", "10s", "--pending-timeout", "1m", "--log-level", "debug",
		"--healthy-after", "30s", "--deployment-stuck-after", "10m",
		"--allow-privileged", "--tag", "room=attic", "--tag", "owner=", "--image-gc-after", "30m", "--image-gc-high", "90.5", "--cluster", "garage",
		"--dns-port", "5353", "--dns-domain", "cluster.internal.", "--dns-resolver", "10.0.0.53", "--dns-resolver", "[fd00::53]:5353",
		"--dns-containers=false", "--deregistration-delay", "0s",
		"--no-ingress", "--ingress-bind", "10.0.0.1")
	want := agent.Config{
		Cluster: "garage",
		Name:    "pi-1", DataDir: "/var/lib/skiff", HTTPAddr: "127.0.0.1:8080", RaftAddr: "127.0.0.1:7071", GossipAddr: "127.0.0.1:7946",
		Advertise: "10.0.0.1", Join: []string{"10.0.0.2", "10.0.0.3:7946"}, BootstrapExpect: 1, Voters: 5,
		ProbeInterval: time.Second, DownAfter: 2 * time.Second, RaftTimeout: 2 * time.Second, RotationGrace: 10 * time.Second, PendingTimeout: time.Minute,
		HealthyAfter: 30 * time.Second, StuckAfter: 10 * time.Minute, CPU: 2048, MemoryMiB: 512, GPUs: 2,
		Attributes: map[string]string{"zone": "a", "disk": ""}, PortMin: 30000, PortMax: 30010, Debug: true, Dev: true,
		AllowPrivileged: true, Tags: []structs.Tag{{Key: "room", Value: "attic"}, {Key: "owner"}}, ImageGCAfter: 30 * time.Minute, ImageGCHigh: 90.5,
		DNSAddr: "127.0.0.1:5353", DNSDomain: "cluster.internal", DNSResolvers: []string{"10.0.0.53:53", "[fd00::53]:5353"},
		NoIngress: true, IngressBind: "10.0.0.1",
	}
	if !reflect.DeepEqual(cfg, want) || level != slog.LevelDebug {
		t.Errorf("got %+v at level %v\nwant %+v at debug", cfg, level, want)
	}
}

// TestAgentDockerHost checks that --docker-host, not the environment,
// names the engine the agent uses: one at a socket that does not exist is
// refused before anything starts, with the address in the message.
func TestAgentDockerHost(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	// The environment names another missing engine, so that an agent
	// that ignored the flag fails too (rather than run), but names it.
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "env.sock"))
	r := skiff("", "agent", "--dev", "--data-dir", t.TempDir(), "--docker-host", "unix://"+sock)
	if r.code != 1 || !strings.Contains(r.stderr, "the Docker Engine does not answer") || !strings.Contains(r.stderr, sock) {
		t.Errorf("got exit code %d, stderr %q; want 1 and the engine at %s not answering", r.code, r.stderr, sock)
	}
}
