package runtime

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/google/uuid"

	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// volumeDef is a one-container definition that runs testapp with args and
// mounts the volumes as mountPoints says.
func volumeDef(volumes []structs.Volume, mounts []structs.MountPoint, args ...string) *structs.TaskDefinition {
	return &structs.TaskDefinition{Family: "vol", Revision: 1, Volumes: volumes, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "app", Image: "skiff-testapp:latest", Memory: 32, Command: append([]string{"/testapp"}, args...), MountPoints: mounts}}}
}

// runToExit starts a task of def and waits for its container to exit,
// returning its exit code and output.
func runToExit(t *testing.T, d *Docker, node string, def *structs.TaskDefinition) (string, int, string) {
	t.Helper()
	ctx := context.Background()
	task := &structs.Task{ID: uuid.NewString(), Service: "vol", Node: node}
	if err := d.Start(ctx, TaskSpec{Task: task, Def: def, Node: node}); err != nil {
		t.Fatal(err)
	}
	code := -1
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		cs := observed(t, d, node, task.ID)
		if len(cs) == 1 && cs[0].Status == StateExited && cs[0].ExitCode != nil {
			code = *cs[0].ExitCode
			return true, ""
		}
		return false, "the container has not exited"
	})
	var out bytes.Buffer
	if err := d.Logs(ctx, node, task.ID, "app", structs.LogOptions{Tail: structs.AllLines}, &out); err != nil {
		t.Fatal(err)
	}
	return task.ID, code, out.String()
}

// TestDockerVolumes writes through a shared volume, a task volume and a
// bind mount: the task volume is labelled with its task and goes with it,
// the shared one carries the definition's labels and keeps its data for
// the next task, a read-only mount refuses writes, and a shared volume
// that must exist fails the start when it does not.
func TestDockerVolumes(t *testing.T) {
	d, node := newDocker(t)
	ctx := context.Background()
	shared := "skiff-test-shared-" + node
	t.Cleanup(func() {
		// The shared volume goes once no container uses it.
		obs, _ := d.List(context.Background(), node)
		for _, o := range obs {
			_ = d.Remove(context.Background(), node, o.TaskID)
		}
		list, _ := d.cli.VolumeList(context.Background(), volume.ListOptions{Filters: taskFilter(node, "")})
		for _, v := range list.Volumes {
			_ = d.cli.VolumeRemove(context.Background(), v.Name, true)
		}
	})
	hostDir := t.TempDir()
	volumes := []structs.Volume{
		{Name: shared, DockerVolumeConfiguration: &structs.DockerVolumeConfiguration{Scope: structs.ScopeShared, Labels: map[string]string{"team": "db"}}},
		{Name: "scratch"},
		{Name: "host", Host: &structs.HostVolume{SourcePath: hostDir}},
	}
	mounts := []structs.MountPoint{{SourceVolume: shared, ContainerPath: "/shared"}, {SourceVolume: "scratch", ContainerPath: "/scratch"},
		{SourceVolume: "host", ContainerPath: "/host"}}

	first, code, out := runToExit(t, d, node, volumeDef(volumes, mounts, "write", "-path", "/shared/f", "-text", "kept"))
	if code != 0 {
		t.Fatalf("write to the shared volume: exit %d: %s", code, out)
	}
	vols, err := d.Volumes(ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	byVolume := map[string]structs.NodeVolume{}
	for _, v := range vols {
		byVolume[v.Volume] = v
	}
	if v := byVolume[shared]; v.Name != shared || v.Scope != structs.ScopeShared || v.Task != "" || v.Service != "vol" || v.Labels["team"] != "db" || v.Node != node {
		t.Errorf("shared volume %+v", v)
	}
	if v := byVolume["scratch"]; v.Name != "skiff-"+first+"-scratch" || v.Scope != structs.ScopeTask || v.Task != first {
		t.Errorf("task volume %+v", v)
	}
	if len(vols) != 2 {
		t.Errorf("volumes %+v, want the shared and the task volume (a bind mount is no volume)", vols)
	}
	info, err := d.cli.ContainerInspect(ctx, ContainerName(first, "app"))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.HostConfig.Binds; len(got) != 1 || got[0] != hostDir+":/host" {
		t.Errorf("binds %q", got)
	}
	if got := info.HostConfig.Mounts; len(got) != 2 || got[0].Type != mount.TypeVolume || got[0].Source != shared || got[0].Target != "/shared" {
		t.Errorf("mounts %+v", got)
	}

	if err := d.Remove(ctx, node, first); err != nil {
		t.Fatal(err)
	}
	vols, _ = d.Volumes(ctx, node)
	if len(vols) != 1 || vols[0].Name != shared {
		t.Fatalf("after the task's removal: %+v, want only the shared volume", vols)
	}
	if _, code, out := runToExit(t, d, node, volumeDef(volumes, mounts, "cat", "-path", "/shared/f")); code != 0 || out != "kept" {
		t.Fatalf("the next task reads %q (exit %d), want kept", out, code)
	}

	if _, code, _ := runToExit(t, d, node, volumeDef(volumes, mounts, "write", "-path", "/host/f", "-text", "on the host")); code != 0 {
		t.Fatalf("write to the bind mount: exit %d", code)
	}
	if b, err := os.ReadFile(filepath.Join(hostDir, "f")); err != nil || string(b) != "on the host" {
		t.Fatalf("host file: %q, %v", b, err)
	}

	ro := []structs.MountPoint{{SourceVolume: shared, ContainerPath: "/shared", ReadOnly: true}}
	if _, code, out := runToExit(t, d, node, volumeDef(volumes, ro, "write", "-path", "/shared/f", "-text", "lost")); code != 1 || !strings.Contains(out, "read-only file system") {
		t.Fatalf("write to a read-only mount: exit %d: %q", code, out)
	}

	no := false
	missing := []structs.Volume{{Name: "skiff-test-absent-" + node, DockerVolumeConfiguration: &structs.DockerVolumeConfiguration{Scope: structs.ScopeShared, Autoprovision: &no}}}
	err = d.Start(ctx, TaskSpec{Task: &structs.Task{ID: uuid.NewString(), Node: node}, Def: volumeDef(missing,
		[]structs.MountPoint{{SourceVolume: missing[0].Name, ContainerPath: "/d"}}, "serve"), Node: node})
	if err == nil || !strings.Contains(err.Error(), "autoprovision false") {
		t.Fatalf("missing shared volume: %v", err)
	}
}

// TestApplyMounts checks the engine configuration of mount points and
// volumesFrom without an engine.
func TestApplyMounts(t *testing.T) {
	def := &structs.TaskDefinition{Family: "f", Revision: 1,
		Volumes: []structs.Volume{{Name: "data", DockerVolumeConfiguration: &structs.DockerVolumeConfiguration{Scope: structs.ScopeShared}},
			{Name: "tmp"}, {Name: "etc", Host: &structs.HostVolume{SourcePath: "/srv/etc"}}},
		ContainerDefinitions: []structs.ContainerDefinition{
			{Name: "db", MountPoints: []structs.MountPoint{{SourceVolume: "data", ContainerPath: "/data"}, {SourceVolume: "tmp", ContainerPath: "/tmp", ReadOnly: true},
				{SourceVolume: "etc", ContainerPath: "/etc/db", ReadOnly: true}}},
			{Name: "backup", VolumesFrom: []structs.VolumeFrom{{SourceContainer: "db", ReadOnly: true}}},
		}}
	spec := TaskSpec{Task: &structs.Task{ID: "t1"}, Def: def, Node: "n"}
	var db, backup container.HostConfig
	applyMounts(&db, spec, &def.ContainerDefinitions[0])
	applyMounts(&backup, spec, &def.ContainerDefinitions[1])
	want := []mount.Mount{{Type: mount.TypeVolume, Source: "data", Target: "/data"}, {Type: mount.TypeVolume, Source: "skiff-t1-tmp", Target: "/tmp", ReadOnly: true}}
	if len(db.Mounts) != 2 || db.Mounts[0] != want[0] || db.Mounts[1] != want[1] {
		t.Errorf("mounts %+v, want %+v", db.Mounts, want)
	}
	if len(db.Binds) != 1 || db.Binds[0] != "/srv/etc:/etc/db:ro" {
		t.Errorf("binds %q", db.Binds)
	}
	if len(backup.VolumesFrom) != 1 || backup.VolumesFrom[0] != "skiff-t1-db:ro" {
		t.Errorf("volumesFrom %q", backup.VolumesFrom)
	}
}

// TestFakeVolumes: the fake makes volumes as Docker does, labelled the
// same way: a task's own goes with it, a shared one stays for the next
// task on its node only, and a shared one that must exist fails the start.
func TestFakeVolumes(t *testing.T) {
	f := NewFake()
	ctx := context.Background()
	def := volumeDef([]structs.Volume{{Name: "data", DockerVolumeConfiguration: &structs.DockerVolumeConfiguration{Scope: structs.ScopeShared}},
		{Name: "tmp"}, {Name: "host", Host: &structs.HostVolume{SourcePath: "/srv"}}}, nil, "serve")
	if err := f.Start(ctx, TaskSpec{Task: &structs.Task{ID: "t1", Service: "db"}, Def: def, Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	vols, _ := f.Volumes(ctx, "n1")
	if len(vols) != 2 || !reflect.DeepEqual(vols[0], structs.NodeVolume{Node: "n1", Name: "data", Volume: "data", Scope: "shared", Driver: "local", Service: "db"}) ||
		vols[1].Name != "skiff-t1-tmp" || vols[1].Task != "t1" || vols[1].Scope != structs.ScopeTask {
		t.Fatalf("volumes %+v", vols)
	}
	if err := f.Remove(ctx, "n1", "t1"); err != nil {
		t.Fatal(err)
	}
	if vols, _ := f.Volumes(ctx, "n1"); len(vols) != 1 || vols[0].Name != "data" {
		t.Fatalf("after removal: %+v", vols)
	}
	if vols, _ := f.Volumes(ctx, "n2"); len(vols) != 0 {
		t.Fatalf("n2 has %+v", vols)
	}
	no := false
	def.Volumes[0].DockerVolumeConfiguration.Autoprovision = &no
	if err := f.Start(ctx, TaskSpec{Task: &structs.Task{ID: "t2", Service: "db"}, Def: def, Node: "n1"}); err != nil {
		t.Fatalf("the shared volume exists on n1: %v", err)
	}
	if err := f.Start(ctx, TaskSpec{Task: &structs.Task{ID: "t3", Service: "db"}, Def: def, Node: "n2"}); err == nil || !strings.Contains(err.Error(), "no volume data exists on node n2") {
		t.Fatalf("n2 lacks the shared volume: %v", err)
	}
}
