// Package dockertest gives tests the local Docker Engine: a client that
// skips the test where no engine answers (or fails it under
// SKIFF_REQUIRE_DOCKER=1, as in CI), private engines a test may stop and
// start, and FROM scratch images built from static Go programs, since no
// registry can be reached.
package dockertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// Client returns an engine client closed at the test's end, or skips the
// test where no engine answers, unless SKIFF_REQUIRE_DOCKER=1 makes that a
// failure.
func Client(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("SKIFF_REQUIRE_DOCKER") == "1" {
			t.Fatalf("SKIFF_REQUIRE_DOCKER=1 but the Docker Engine does not answer: %v", err)
		}
		t.Skipf("skipping: no Docker Engine answers (%v); set SKIFF_REQUIRE_DOCKER=1 to make this a failure", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Image is a FROM scratch image named Tag holding the static build of the
// Go package Pkg (a path relative to the test's package) as /Bin, with the
// Dockerfile lines Tail after the COPY. Build makes it once per test
// process and engine; Image is safe for concurrent use.
type Image struct {
	Tag, Pkg, Bin, Tail string

	mu    sync.Mutex
	built map[string]error // by engine address, "" for the environment's; guarded by mu
}

// Build builds the image on the environment's engine, once, or fails the
// test.
func (im *Image) Build(t testing.TB) {
	t.Helper()
	im.BuildOn(t, "")
}

// BuildOn builds the image on the engine at host (the environment's when
// empty), once per engine, or fails the test.
func (im *Image) BuildOn(t testing.TB, host string) {
	t.Helper()
	im.mu.Lock()
	err, done := im.built[host]
	if !done {
		err = im.build(host)
		if im.built == nil {
			im.built = map[string]error{}
		}
		im.built[host] = err
	}
	im.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
}

func (im *Image) build(host string) error {
	dir, err := os.MkdirTemp("", "skiff-image")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	build := exec.Command("go", "build", "-o", filepath.Join(dir, im.Bin), im.Pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", im.Pkg, err, out)
	}
	df := fmt.Sprintf("FROM scratch\nCOPY %s /%s\n%s\n", im.Bin, im.Bin, im.Tail)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return err
	}
	docker := exec.Command("docker", "build", "-q", "-t", im.Tag, dir)
	if host != "" {
		// A private engine (see PrivateEngine) builds with the classic
		// builder, which needs nothing but the daemon itself.
		docker.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_BUILDKIT=0")
	}
	if out, err := docker.CombinedOutput(); err != nil {
		return fmt.Errorf("docker build %s: %v\n%s", im.Tag, err, out)
	}
	return nil
}
