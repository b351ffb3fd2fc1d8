package agent

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/skiff-run/skiff/internal/dockertest"
	"github.com/skiff-run/skiff/runtime"
)

// buildFiller builds, on the engine at host, a FROM scratch image tag of
// size bytes of random content, so that no two share a layer.
func buildFiller(t *testing.T, host, tag string, size int) {
	t.Helper()
	dir := t.TempDir()
	blob := make([]byte, size)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "blob"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY blob /blob\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker", "build", "-q", "-t", tag, dir)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", tag, err, out)
	}
}

// TestImageGCOnAFullEngine fills a private engine's small data root with
// unused images and one a task references, and sees the unused ones go,
// oldest first, until the disk is below the mark; the referenced one
// stays.
func TestImageGCOnAFullEngine(t *testing.T) {
	const mib = 1 << 20
	e := dockertest.PrivateEngine(t, dockertest.EngineOptions{DataRootBytes: 160 * mib})
	d, err := runtime.NewDockerAt(e.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	buildFiller(t, e.Host, "keep:1", 12*mib)
	var fillers []string
	for i := 1; i <= 5; i++ {
		tag := fmt.Sprintf("filler-%d:latest", i)
		buildFiller(t, e.Host, tag, 12*mib)
		fillers = append(fillers, tag)
		// Images are dated to the second; a second apart, the order
		// they go in is the order they were built.
		time.Sleep(1100 * time.Millisecond)
	}
	ctx := context.Background()
	used, total, err := d.DataRootUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	full := float64(used) * 100 / float64(total)
	// The mark sits two and a half fillers below the disk as it is, so
	// that three of them must go.
	high := full - 2.5*12*mib*100/float64(total)
	t.Logf("data root %d of %d bytes used (%.1f %%), mark %.1f %%", used, total, full, high)
	refs := imageRefs{tags: map[string]bool{"keep:1": true}, repos: map[string]bool{}}
	gc := &imageGC{rt: d, node: "n1", after: time.Hour, high: high, log: slog.New(slog.DiscardHandler), unusedSince: map[string]time.Time{}}
	now := time.Now()
	if removed, err := gc.collect(ctx, now, refs); err != nil || len(removed) != 0 {
		t.Fatalf("first round removed %v (%v): want none before an hour unused", removed, err)
	}
	removed, err := gc.collect(ctx, now.Add(time.Hour), refs)
	if err != nil {
		t.Fatal(err)
	}
	images, err := d.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, im := range images {
		left = append(left, im.Tags...)
	}
	slices.Sort(left)
	if want := []string{"filler-4:latest", "filler-5:latest", "keep:1"}; len(removed) != 3 || !slices.Equal(left, want) {
		t.Errorf("removed %v, left %v: want the three oldest fillers gone and %v left", removed, left, want)
	}
	used, total, err = d.DataRootUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := float64(used) * 100 / float64(total); p > high {
		t.Errorf("data root %.1f %% full after the clean-up, above the mark of %.1f %%", p, high)
	}
}
