package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// Fake is an in-memory Runtime for tests and simulated nodes. Containers
// start at once and run until Stop, Exit or Remove. It is safe for
// concurrent use, and one Fake may serve several nodes.
type Fake struct {
	mu      sync.Mutex
	tasks   map[string]*fakeTask // by task id
	missing map[string]bool      // images that cannot be had
	down    error                // what every call answers while the engine is down
	starts  int
	changed chan struct{}
	volumes map[fakeVolumeKey]structs.NodeVolume
	// private holds, by image, the login its registry wants.
	private map[string]RegistryAuth
	// execs are the commands Exec ran, oldest first.
	execs []FakeExec
	// stats holds what SetStats said each container uses.
	stats map[fakeStatsKey]ContainerStats
	// images and diskUsed, diskTotal are what SetImages and SetDisk
	// said the engine holds.
	images              []Image
	diskUsed, diskTotal uint64
}

// fakeStatsKey names one container of one task.
type fakeStatsKey struct{ task, container string }

// fakeVolumeKey names a volume on one node: engines name volumes per host.
type fakeVolumeKey struct{ node, name string }

type fakeTask struct {
	node       string
	service    string
	containers []structs.ContainerState
	env        map[string][]string // by container name
}

// NewFake returns an empty fake engine.
func NewFake() *Fake {
	return &Fake{tasks: map[string]*fakeTask{}, missing: map[string]bool{}, private: map[string]RegistryAuth{}, changed: make(chan struct{}, 1),
		volumes: map[fakeVolumeKey]structs.NodeVolume{}, stats: map[fakeStatsKey]ContainerStats{}}
}

// MissingImage makes Start fail for tasks that use ref, as an engine does
// for an image that is not local and cannot be pulled.
func (f *Fake) MissingImage(ref string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.missing[ref] = true
}

// PrivateImage makes ref pullable only with login, as a private
// registry's image is.
func (f *Fake) PrivateImage(ref string, login RegistryAuth) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.private[ref] = login
}

// Env is the environment a task's container was started with, nil when
// it was not.
func (f *Fake) Env(taskID, container string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ft := f.tasks[taskID]; ft != nil {
		return ft.env[container]
	}
	return nil
}

// SetDown makes every List answer err, as an engine that stopped does, or
// brings the engine back with nil. The containers are kept as they were.
func (f *Fake) SetDown(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = err
	// Docker's event stream breaks when the engine goes and is begun
	// again when it is back, and either is announced.
	f.notify()
}

// Starts counts successful Start calls, for tests that look for duplicates.
func (f *Fake) Starts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.starts
}

func (f *Fake) notify() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// Start implements Runtime.
func (f *Fake) Start(_ context.Context, spec TaskSpec) error {
	if spec.Task.ID == "" {
		return errNoTaskID
	}
	order, err := structs.StartOrder(spec.Def)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cd := range order {
		if f.missing[cd.Image] {
			return fmt.Errorf("image %s not found locally and pull failed: no such image", cd.Image)
		}
		if want, ok := f.private[cd.Image]; ok {
			switch got := spec.RegistryAuth[cd.Name]; {
			case got == nil:
				return pullError(cd.Image, nil, errors.New("unauthorized: authentication required"))
			case *got != want:
				return pullError(cd.Image, got, errors.New("unauthorized: incorrect username or password"))
			}
		}
	}
	if err := f.ensureVolumes(spec); err != nil {
		return err
	}
	ft := &fakeTask{node: spec.Node, service: spec.Task.Service, env: map[string][]string{}}
	for _, cd := range order {
		ft.env[cd.Name] = spec.environment(cd)
		ft.containers = append(ft.containers, structs.ContainerState{Name: cd.Name, Status: StateRunning, DockerID: "fake-" + spec.Task.ID + "-" + cd.Name})
	}
	f.tasks[spec.Task.ID] = ft
	f.starts++
	f.notify()
	return nil
}

// Exit makes one container of a task exit with code, as if its process
// ended.
func (f *Fake) Exit(taskID, container string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ft := f.tasks[taskID]; ft != nil {
		for i := range ft.containers {
			if ft.containers[i].Name == container {
				c := code
				ft.containers[i].Status, ft.containers[i].ExitCode = StateExited, &c
			}
		}
	}
	f.notify()
}

// Running counts running containers per task id, across all nodes.
func (f *Fake) Running() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for id, ft := range f.tasks {
		for _, c := range ft.containers {
			if c.Status == StateRunning {
				out[id]++
			}
		}
	}
	return out
}

// Stop implements Runtime; stopped containers exit with code 143, as a
// process ended by SIGTERM does.
func (f *Fake) Stop(_ context.Context, node, taskID string, _ time.Duration) error {
	if taskID == "" {
		return errNoTaskID
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if ft := f.tasks[taskID]; ft != nil && ft.node == node {
		for i := range ft.containers {
			if ft.containers[i].Status == StateRunning {
				code := 143
				ft.containers[i].Status, ft.containers[i].ExitCode = StateExited, &code
			}
		}
	}
	f.notify()
	return nil
}

// Remove implements Runtime.
func (f *Fake) Remove(_ context.Context, node, taskID string) error {
	if taskID == "" {
		return errNoTaskID
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if ft := f.tasks[taskID]; ft != nil && ft.node == node {
		delete(f.tasks, taskID)
	}
	for k, v := range f.volumes {
		if k.node == node && v.Task == taskID {
			delete(f.volumes, k)
		}
	}
	return nil
}

// ensureVolumes makes the task's Docker volumes the node lacks, as Docker
// does. Callers hold f.mu.
func (f *Fake) ensureVolumes(spec TaskSpec) error {
	for i := range spec.Def.Volumes {
		v := &spec.Def.Volumes[i]
		if v.HostPath() != "" {
			continue
		}
		k := fakeVolumeKey{spec.Node, VolumeName(spec.Task.ID, v)}
		if _, ok := f.volumes[k]; ok {
			continue
		}
		if v.Scope() == structs.ScopeShared && !v.Autoprovisions() {
			return errNoVolume(v, spec.Node)
		}
		f.volumes[k] = nodeVolume(spec.Node, k.name, "local", volumeLabels(spec, v))
	}
	return nil
}

// Volumes implements VolumeLister.
func (f *Fake) Volumes(_ context.Context, node string) ([]structs.NodeVolume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return nil, f.down
	}
	out := []structs.NodeVolume{}
	for k, v := range f.volumes {
		if k.node == node {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// List implements Runtime.
func (f *Fake) List(_ context.Context, node string) ([]Observed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return nil, f.down
	}
	var out []Observed
	for id, ft := range f.tasks {
		if ft.node == node {
			out = append(out, Observed{TaskID: id, Service: ft.service, Containers: append([]structs.ContainerState(nil), ft.containers...)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TaskID < out[j].TaskID })
	return out, nil
}

// FakeLogTime is the time the Fake's log lines carry with Timestamps.
var FakeLogTime = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

// Logs implements Runtime with one line per call, none when opts.Tail is
// 0, and starting with FakeLogTime with opts.Timestamps. With opts.Follow
// it then waits, as a real stream does, until ctx ends or the container
// stops.
func (f *Fake) Logs(ctx context.Context, node, taskID, container string, opts structs.LogOptions, w io.Writer) error {
	f.mu.Lock()
	ft := f.tasks[taskID]
	f.mu.Unlock()
	if ft == nil || ft.node != node {
		return fmt.Errorf("no container %s in task %s", container, taskID)
	}
	line := fmt.Sprintf("fake log of %s/%s\n", taskID, container)
	if opts.Timestamps {
		line = FakeLogTime.Format(time.RFC3339Nano) + " " + line
	}
	if opts.Tail == 0 {
		line = ""
	}
	if _, err := io.WriteString(w, line); err != nil || !opts.Follow {
		return err
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for f.isRunning(taskID, container) {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
	return nil
}

// isRunning reports whether a container of a task runs.
func (f *Fake) isRunning(taskID, container string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ft := f.tasks[taskID]; ft != nil {
		for _, c := range ft.containers {
			if c.Name == container && c.Status == StateRunning {
				return true
			}
		}
	}
	return false
}

// Changes implements Notifier. A Fake serving several nodes wakes one of
// them per change; the others see it at their next periodic resync.
func (f *Fake) Changes(_ context.Context, _ string) <-chan struct{} { return f.changed }

// SetStats sets what Stats reports of a task's container while it runs;
// the ids and names are filled in by Stats.
func (f *Fake) SetStats(taskID, container string, s ContainerStats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats[fakeStatsKey{taskID, container}] = s
}

// Stats implements StatsReader: every running container of the node, with
// what SetStats set for it (nothing used, otherwise).
func (f *Fake) Stats(_ context.Context, node string) ([]ContainerStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return nil, f.down
	}
	var out []ContainerStats
	for id, ft := range f.tasks {
		if ft.node != node {
			continue
		}
		for _, c := range ft.containers {
			if c.Status != StateRunning {
				continue
			}
			s := f.stats[fakeStatsKey{id, c.Name}]
			s.TaskID, s.Service, s.Container = id, ft.service, c.Name
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b ContainerStats) int {
		return cmp.Or(cmp.Compare(a.TaskID, b.TaskID), cmp.Compare(a.Container, b.Container))
	})
	return out, nil
}

// SetImages sets the images the engine holds.
func (f *Fake) SetImages(images []Image) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images = slices.Clone(images)
}

// SetDisk sets the used and total bytes of the engine's data root;
// removing an image frees its size.
func (f *Fake) SetDisk(used, total uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.diskUsed, f.diskTotal = used, total
}

// Images implements ImageCollector.
func (f *Fake) Images(context.Context) ([]Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return nil, f.down
	}
	return slices.Clone(f.images), nil
}

// RemoveImage implements ImageCollector.
func (f *Fake) RemoveImage(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.images, func(im Image) bool { return im.ID == id })
	if i < 0 {
		return fmt.Errorf("no such image: %s", id)
	}
	f.diskUsed -= min(f.diskUsed, uint64(f.images[i].Size))
	f.images = slices.Delete(f.images, i, i+1)
	return nil
}

// DataRootUsage implements ImageCollector.
func (f *Fake) DataRootUsage(context.Context) (used, total uint64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.diskUsed, f.diskTotal, f.down
}
