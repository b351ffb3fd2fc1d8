package runtime

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/skiff-run/skiff/structs"
)

// Labels of the volumes skiff makes, beside skiff.node and skiff.service
// (and skiff.task on a task-scoped one): the volume's name in its task
// definition and its scope, so that a node's volumes can be listed and
// cleaned up.
const (
	LabelVolume = "skiff.volume"
	LabelScope  = "skiff.scope"
)

// VolumeLister is implemented by runtimes that can list the volumes skiff
// made on a node.
type VolumeLister interface {
	Volumes(ctx context.Context, node string) ([]structs.NodeVolume, error)
}

// VolumeName is the engine's name of a task's Docker volume. A shared
// volume is named as in its definition, as ECS names it, so that the next
// task on the node finds it, tasks of several definitions may share it,
// and one made beforehand can be used; a task volume is the task's own.
func VolumeName(taskID string, v *structs.Volume) string {
	if v.Scope() == structs.ScopeShared {
		return v.Name
	}
	return "skiff-" + taskID + "-" + v.Name
}

// volumeLabels are the labels skiff gives a volume it makes for a task:
// the definition's labels, then skiff's own.
func volumeLabels(spec TaskSpec, v *structs.Volume) map[string]string {
	labels := map[string]string{}
	if c := v.DockerVolumeConfiguration; c != nil {
		for k, val := range c.Labels {
			labels[k] = val
		}
	}
	labels[LabelNode] = spec.Node
	labels[LabelService] = spec.Task.Service
	labels[LabelVolume] = v.Name
	labels[LabelScope] = v.Scope()
	if v.Scope() == structs.ScopeTask {
		labels[LabelTask] = spec.Task.ID
	}
	return labels
}

// errNoVolume is the start failure of a shared volume that must exist and
// does not.
func errNoVolume(v *structs.Volume, node string) error {
	return fmt.Errorf("volume %s: shared with autoprovision false, and no volume %s exists on node %s", v.Name, v.Name, node)
}

// ensureVolumes makes the task's Docker volumes that the engine lacks. A
// shared volume that exists is used as it is, whoever made it, unless its
// driver is another.
func (d *Docker) ensureVolumes(ctx context.Context, spec TaskSpec) error {
	for i := range spec.Def.Volumes {
		v := &spec.Def.Volumes[i]
		if v.HostPath() != "" {
			continue
		}
		name := VolumeName(spec.Task.ID, v)
		driver := "local"
		if c := v.DockerVolumeConfiguration; c != nil && c.Driver != "" {
			driver = c.Driver
		}
		have, err := d.cli.VolumeInspect(ctx, name)
		switch {
		case err == nil && have.Driver != driver:
			return fmt.Errorf("volume %s: a volume %s of driver %s exists on this node, not of driver %s", v.Name, name, have.Driver, driver)
		case err == nil:
			continue
		case !client.IsErrNotFound(err):
			return fmt.Errorf("volume %s: %w", v.Name, err)
		case v.Scope() == structs.ScopeShared && !v.Autoprovisions():
			return errNoVolume(v, spec.Node)
		}
		opts := volume.CreateOptions{Name: name, Driver: driver, Labels: volumeLabels(spec, v)}
		if c := v.DockerVolumeConfiguration; c != nil {
			opts.DriverOpts = c.DriverOpts
		}
		if _, err := d.cli.VolumeCreate(ctx, opts); err != nil {
			return fmt.Errorf("create volume %s: %w", v.Name, err)
		}
	}
	return nil
}

// applyMounts gives a container its mount points and volumesFrom. Host
// paths are binds, which the engine creates as directories when they are
// missing, as ECS's host volumes are; Docker volumes are volume mounts of
// the volumes ensureVolumes made.
func applyMounts(hc *container.HostConfig, spec TaskSpec, cd *structs.ContainerDefinition) {
	for _, m := range cd.MountPoints {
		v := spec.Def.Volume(m.SourceVolume)
		if v == nil {
			continue
		}
		if p := v.HostPath(); p != "" {
			bind := p + ":" + m.ContainerPath
			if m.ReadOnly {
				bind += ":ro"
			}
			hc.Binds = append(hc.Binds, bind)
			continue
		}
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: VolumeName(spec.Task.ID, v), Target: m.ContainerPath, ReadOnly: m.ReadOnly})
	}
	for _, vf := range cd.VolumesFrom {
		from := ContainerName(spec.Task.ID, vf.SourceContainer)
		if vf.ReadOnly {
			from += ":ro"
		}
		hc.VolumesFrom = append(hc.VolumesFrom, from)
	}
}

// removeVolumes removes a task's own volumes. Shared volumes carry no task
// label, so they are kept.
func (d *Docker) removeVolumes(ctx context.Context, node, taskID string) error {
	list, err := d.cli.VolumeList(ctx, volume.ListOptions{Filters: taskFilter(node, taskID)})
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range list.Volumes {
		if err := d.cli.VolumeRemove(ctx, v.Name, false); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Volumes implements VolumeLister: the volumes labelled with the node, by
// name.
func (d *Docker) Volumes(ctx context.Context, node string) ([]structs.NodeVolume, error) {
	list, err := d.cli.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelNode+"="+node))})
	if err != nil {
		return nil, err
	}
	out := make([]structs.NodeVolume, 0, len(list.Volumes))
	for _, v := range list.Volumes {
		out = append(out, nodeVolume(node, v.Name, v.Driver, v.Labels))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// nodeVolume describes a volume from its labels; the definition's own
// labels are kept apart from skiff's.
func nodeVolume(node, name, driver string, labels map[string]string) structs.NodeVolume {
	nv := structs.NodeVolume{Node: node, Name: name, Driver: driver, Volume: labels[LabelVolume], Scope: labels[LabelScope],
		Service: labels[LabelService], Task: labels[LabelTask]}
	for k, v := range labels {
		switch k {
		case LabelNode, LabelVolume, LabelScope, LabelService, LabelTask:
			continue
		}
		if nv.Labels == nil {
			nv.Labels = map[string]string{}
		}
		nv.Labels[k] = v
	}
	return nv
}
