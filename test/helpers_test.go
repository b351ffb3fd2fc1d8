// Package test holds skiff's cross-package tests: Docker end-to-end runs of
// an in-process agent against the local engine, using a FROM scratch image
// built from ./testapp.
package test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/dockertest"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
	"github.com/skiff-run/skiff/token"
)

const testImage = "skiff-testapp:latest"

var (
	testappImage = &dockertest.Image{Tag: testImage, Pkg: "./testapp", Bin: "testapp", Tail: `CMD ["/testapp", "serve"]`}
	skiffImage   = &dockertest.Image{Tag: agentImage, Pkg: "..", Bin: "skiff", Tail: `ENTRYPOINT ["/skiff"]`}
)

// newSecret makes the cluster secret of one test's cluster; its String is
// the join token, and it gives the API tokens the agents derive from it.
func newSecret(t testing.TB) token.Secret {
	s, err := token.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// buildTestImage builds skiff-testapp:latest from ./testapp.
func buildTestImage(t testing.TB) { testappImage.Build(t) }

// dockerAgent is an in-process agent on the real engine.
type dockerAgent struct {
	t          *testing.T
	cli        *client.Client
	dir        string
	raftAddr   string
	gossipAddr string
	a          *agent.Agent
	c          *api.Client
	log        *slog.Logger
	raftLog    io.Writer
	secret     token.Secret
	// tune, when set, changes the agent's configuration at every start.
	tune func(*agent.Config)
}

// clientTLS trusts the CA the agent wrote to its data dir, as the command
// line beside it does.
func (d *dockerAgent) clientTLS() *tls.Config {
	d.t.Helper()
	raw, err := os.ReadFile(filepath.Join(d.dir, agent.CAFile))
	if err != nil {
		d.t.Fatal(err)
	}
	cfg, err := pki.ClientTLS(raw)
	if err != nil {
		d.t.Fatal(err)
	}
	return cfg
}

// startDockerAgent starts a one-node agent on a fresh data dir. Every
// container and network it made is removed when the test ends, pass or
// fail.
func startDockerAgent(t *testing.T) *dockerAgent { return startTunedDockerAgent(t, nil) }

// startTunedDockerAgent is startDockerAgent with tune applied to the
// agent's configuration at every start.
func startTunedDockerAgent(t *testing.T, tune func(*agent.Config)) *dockerAgent {
	cli := dockertest.Client(t)
	buildTestImage(t)
	// The log writers come before the cleanup that closes the agent, so
	// that what it logs while it stops reaches the test's log too.
	d := &dockerAgent{t: t, cli: cli, secret: newSecret(t), dir: t.TempDir(), raftAddr: testutil.Addr(t), gossipAddr: testutil.Addr(t),
		log: testutil.Logger(t), raftLog: testutil.LogWriter(t), tune: tune}
	d.start()
	id := d.a.ID()
	t.Cleanup(func() {
		if d.a != nil {
			d.a.Close()
		}
		cleanupNode(cli, id)
	})
	return d
}

func (d *dockerAgent) start() {
	d.t.Helper()
	rt, err := runtime.NewDocker()
	if err != nil {
		d.t.Fatal(err)
	}
	rt.PullTimeout = 20 * time.Second
	cfg := agent.Config{Name: "e2e", Token: d.secret.String(), DataDir: d.dir, HTTPAddr: "127.0.0.1:0", RaftAddr: d.raftAddr,
		GossipAddr: d.gossipAddr, CPU: 4096, MemoryMiB: 4096, Runtime: rt, Resync: time.Second, PortMin: 42000, PortMax: 42999, Logger: d.log, RaftLog: d.raftLog}
	if d.tune != nil {
		d.tune(&cfg)
	}
	d.a, err = agent.New(cfg)
	if err != nil {
		d.t.Fatal(err)
	}
	d.c = api.NewClient(d.a.HTTPAddr(), d.clientTLS())
	d.c.Token = d.secret.ManagementToken()
	// The agent serves as soon as it starts; wait until it leads and has
	// registered its node, as a person would before the first apply.
	testutil.Eventually(d.t, 30*time.Second, func() (bool, string) {
		nodes, err := d.c.Nodes(context.Background())
		h, herr := d.c.Health(context.Background())
		return err == nil && herr == nil && h.IsLeader && len(nodes) == 1, fmt.Sprintf("health %+v %v, nodes %d", h, herr, len(nodes))
	})
}

func (d *dockerAgent) restart() {
	d.t.Helper()
	if err := d.a.Close(); err != nil {
		d.t.Fatalf("close agent: %v", err)
	}
	d.a = nil
	d.start()
}

// cleanupNode removes every container, network and volume labelled with
// the node.
func cleanupNode(cli *client.Client, node string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", runtime.LabelNode+"="+node))
	if list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f}); err == nil {
		for _, c := range list {
			_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
	}
	if nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f}); err == nil {
		for _, n := range nets {
			_ = cli.NetworkRemove(ctx, n.ID)
		}
	}
	if vols, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f}); err == nil {
		for _, v := range vols.Volumes {
			_ = cli.VolumeRemove(ctx, v.Name, true)
		}
	}
}

// containers lists the agent's containers by state ("running" or "").
func (d *dockerAgent) containers(state string) []container.Summary {
	d.t.Helper()
	f := filters.NewArgs(filters.Arg("label", runtime.LabelNode+"="+d.a.ID()))
	if state != "" {
		f.Add("status", state)
	}
	list, err := d.cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f})
	if err != nil {
		d.t.Fatal(err)
	}
	return list
}

// running returns the service's tasks whose desired and last status are
// RUNNING.
func (d *dockerAgent) running(service string) []*structs.Task {
	d.t.Helper()
	ts, err := d.c.Tasks(context.Background(), service, false)
	if err != nil {
		d.t.Fatal(err)
	}
	var out []*structs.Task
	for _, t := range ts {
		if t.DesiredStatus == structs.StatusRunning && t.LastStatus == structs.StatusRunning {
			out = append(out, t)
		}
	}
	return out
}

func httpGet(url string) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
