package dockertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
)

var probeImage = &Image{Tag: "skiff-dockertest-probe:latest", Pkg: "../../test/testapp", Bin: "testapp", Tail: `CMD ["/testapp", "serve"]`}

// TestPrivateEngine runs a container on a private daemon with live restore,
// keeps it running across a stop and start of the daemon, and checks that
// nothing of the daemon is left once its test has ended: no directory, no
// bridge, no process.
func TestPrivateEngine(t *testing.T) {
	var dir, bridge string
	t.Run("engine", func(t *testing.T) {
		e := PrivateEngine(t, EngineOptions{LiveRestore: true})
		dir, bridge = e.dir, e.bridge
		probeImage.BuildOn(t, e.Host)
		ctx := context.Background()
		created, err := e.Client.ContainerCreate(ctx, &container.Config{Image: probeImage.Tag}, nil, nil, nil, "probe")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Client.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
		before, err := e.Client.ContainerInspect(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		e.Stop()
		if _, err := e.Client.Ping(ctx); err == nil {
			t.Fatal("the stopped daemon still answers")
		}
		e.Start()
		info, err := e.Client.ContainerInspect(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !info.State.Running || info.State.Pid != before.State.Pid || info.State.StartedAt != before.State.StartedAt {
			t.Fatalf("the container did not live through the daemon's restart: before %+v, after %+v", before.State, info.State)
		}
	})
	if dir == "" {
		return // skipped
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the daemon's directory %s is still there (%v)", dir, err)
	}
	if err := exec.Command("ip", "link", "show", bridge).Run(); err == nil {
		t.Errorf("the daemon's bridge %s is still there", bridge)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if raw, err := os.ReadFile(p); err == nil && strings.Contains(string(raw), dir+"/") {
			t.Errorf("a process of the daemon is still running: %s", strings.ReplaceAll(string(raw), "\x00", " "))
		}
	}
}
