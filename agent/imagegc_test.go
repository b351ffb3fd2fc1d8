package agent

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// gcState places on node n1 a task of an image named in full and a
// stopped task of one pinned by digest; n2's task's image is no concern
// of n1.
func gcState(t *testing.T) *fsm.FSM {
	t.Helper()
	c := fsmtest.New()
	ctx := context.Background()
	for _, n := range []string{"n1", "n2"} {
		if _, err := c.Commit(ctx, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: n}}); err != nil {
			t.Fatal(err)
		}
	}
	def := func(family, image string) {
		td := structs.TaskDefinition{Family: family, ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: image}}}
		if _, err := c.Commit(ctx, fsm.CmdRegisterTaskDefinition, fsm.RegisterTaskDefinition{TaskDefinition: td}); err != nil {
			t.Fatal(err)
		}
	}
	def("web", "docker.io/library/web")
	def("pinned", "registry.local/pinned@sha256:0123456789012345678901234567890123456789012345678901234567890123")
	def("other", "other:2")
	tasks := []structs.Task{
		{ID: "t1", Node: "n1", TaskDefinition: "web:1", DesiredStatus: structs.StatusRunning},
		{ID: "t2", Node: "n1", TaskDefinition: "pinned:1", DesiredStatus: structs.StatusStopped, LastStatus: structs.StatusStopped},
		{ID: "t3", Node: "n2", TaskDefinition: "other:1", DesiredStatus: structs.StatusRunning},
	}
	if _, err := c.Commit(ctx, fsm.CmdCommitPlan, fsm.CommitPlan{Place: tasks}); err != nil {
		t.Fatal(err)
	}
	return c.FSM
}

func TestImageGC(t *testing.T) {
	const mib = 1 << 20
	start := time.Unix(1_000_000, 0)
	rt := runtime.NewFake()
	rt.SetImages([]runtime.Image{
		{ID: "sha256:web", Tags: []string{"web:latest"}, Created: start.Add(-9 * time.Hour), Size: 100 * mib},
		{ID: "sha256:pinned", Tags: []string{"registry.local/pinned:v1"}, Created: start.Add(-8 * time.Hour), Size: 100 * mib},
		{ID: "sha256:old", Tags: []string{"old:1"}, Created: start.Add(-7 * time.Hour), Size: 100 * mib},
		{ID: "sha256:older", Tags: []string{"older:1"}, Created: start.Add(-8 * time.Hour), Size: 100 * mib},
		{ID: "sha256:other", Tags: []string{"other:2"}, Created: start.Add(-9 * time.Hour), Size: 100 * mib},
		{ID: "sha256:dangling", Created: start.Add(-1 * time.Hour), Size: 100 * mib},
	})
	rt.SetDisk(910*mib, 1000*mib)
	gc := &imageGC{rt: rt, node: "n1", after: time.Hour, high: 80, log: slog.New(slog.DiscardHandler), unusedSince: map[string]time.Time{}}
	refs := nodeImageRefs(gcState(t).State(), "n1")
	ctx := context.Background()

	if removed, err := gc.collect(ctx, start, refs); err != nil || len(removed) != 0 {
		t.Fatalf("first round removed %v (%v): want none, no image having been seen unused for an hour", removed, err)
	}
	if p := gc.diskPercent.Load(); p != 91 {
		t.Errorf("disk %d %% full, want the 91 %% the engine says, for the node's registration", p)
	}
	// The image that becomes unused later goes last whatever its age.
	rt.SetImages(append(mustImages(t, rt), runtime.Image{ID: "sha256:late", Tags: []string{"late:1"}, Created: start.Add(-20 * time.Hour), Size: 100 * mib}))
	if removed, _ := gc.collect(ctx, start.Add(30*time.Minute), refs); len(removed) != 0 {
		t.Fatalf("removed %v half an hour in: want none", removed)
	}
	removed, err := gc.collect(ctx, start.Add(time.Hour), refs)
	if err != nil {
		t.Fatal(err)
	}
	// From 91 % full, two images of 10 % each bring the disk to 71 %:
	// the oldest built of those unused since the start, other (n2's only)
	// and older, and then the clean-up stops.
	if want := []string{"sha256:other", "sha256:older"}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	// With the mark at 50 %, every unused image goes, and never one that
	// a task of n1 references, running or stopped.
	gc.high = 50
	removed, _ = gc.collect(ctx, start.Add(2*time.Hour), refs)
	if want := []string{"sha256:old", "sha256:dangling", "sha256:late"}; !slices.Equal(removed, want) {
		t.Errorf("second round removed %v, want %v: unused since the start by age, then the one unused later", removed, want)
	}
	left := mustImages(t, rt)
	if len(left) != 2 || left[0].ID != "sha256:web" || left[1].ID != "sha256:pinned" {
		t.Errorf("left %+v: want only the images of n1's tasks, by full name and by digest", left)
	}
}

func TestImageGCLeavesADiskBelowTheMark(t *testing.T) {
	rt := runtime.NewFake()
	rt.SetImages([]runtime.Image{{ID: "sha256:old", Tags: []string{"old:1"}, Size: 1}})
	rt.SetDisk(79, 100)
	gc := &imageGC{rt: rt, node: "n1", after: time.Hour, high: 80, log: slog.New(slog.DiscardHandler), unusedSince: map[string]time.Time{}}
	now := time.Unix(1_000_000, 0)
	for _, at := range []time.Time{now, now.Add(5 * time.Hour)} {
		if removed, err := gc.collect(context.Background(), at, imageRefs{tags: map[string]bool{}, repos: map[string]bool{}}); err != nil || len(removed) != 0 {
			t.Errorf("removed %v (%v) from a disk 79 %% full: want nothing", removed, err)
		}
	}
}

func mustImages(t *testing.T, rt *runtime.Fake) []runtime.Image {
	t.Helper()
	ims, err := rt.Images(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ims
}
