package structs

import (
	"path"
	"strings"
)

// Volume scopes, as ECS names them. A task-scoped volume is made for one
// task and removed with it; a shared one outlives its tasks, so that the
// next task of its service on the same node finds the data.
const (
	ScopeTask   = "task"
	ScopeShared = "shared"
)

// Volume is an ECS task definition volume: a bind mount of a host path, a
// Docker volume, or (with neither) a Docker volume for the task alone.
type Volume struct {
	Name                      string                     `json:"name"`
	Host                      *HostVolume                `json:"host,omitempty"`
	DockerVolumeConfiguration *DockerVolumeConfiguration `json:"dockerVolumeConfiguration,omitempty"`
}

// HostVolume is a bind mount of a directory or file of the node.
type HostVolume struct {
	SourcePath string `json:"sourcePath,omitempty"`
}

// DockerVolumeConfiguration is a Docker volume. Scope defaults to task;
// Autoprovision (shared volumes only, default true) creates a shared
// volume missing from the node instead of failing the task.
type DockerVolumeConfiguration struct {
	Scope         string            `json:"scope,omitempty"`
	Autoprovision *bool             `json:"autoprovision,omitempty"`
	Driver        string            `json:"driver,omitempty"`
	DriverOpts    map[string]string `json:"driverOpts,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
}

// MountPoint mounts a task volume at a path of a container.
type MountPoint struct {
	SourceVolume  string `json:"sourceVolume"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly,omitempty"`
}

// VolumeFrom mounts every volume of another container of the task.
type VolumeFrom struct {
	SourceContainer string `json:"sourceContainer"`
	ReadOnly        bool   `json:"readOnly,omitempty"`
}

// HostPath is the bind-mounted host path, or "" for a Docker volume.
func (v *Volume) HostPath() string {
	if v.Host == nil {
		return ""
	}
	return v.Host.SourcePath
}

// Scope is the volume's scope: shared or task for a Docker volume, and ""
// for a bind mount, whose data belongs to the host.
func (v *Volume) Scope() string {
	switch {
	case v.HostPath() != "":
		return ""
	case v.DockerVolumeConfiguration == nil || v.DockerVolumeConfiguration.Scope == "":
		return ScopeTask
	}
	return v.DockerVolumeConfiguration.Scope
}

// Autoprovisions reports whether a shared volume missing from the node is
// created rather than a reason to fail the task. ECS creates it unless
// autoprovision is false.
func (v *Volume) Autoprovisions() bool {
	c := v.DockerVolumeConfiguration
	return c == nil || c.Autoprovision == nil || *c.Autoprovision
}

// Sticky reports whether the volume's data stays on the node after its
// task: a shared Docker volume or a host path.
func (v *Volume) Sticky() bool { return v.HostPath() != "" || v.Scope() == ScopeShared }

// StickyVolumes lists the names of the definition's volumes whose data
// stays on the node, so that its service's replacements go back there.
func (t *TaskDefinition) StickyVolumes() []string {
	var out []string
	for i := range t.Volumes {
		if t.Volumes[i].Sticky() {
			out = append(out, t.Volumes[i].Name)
		}
	}
	return out
}

// HostPaths lists the host paths the definition bind mounts.
func (t *TaskDefinition) HostPaths() []string {
	var out []string
	for i := range t.Volumes {
		if p := t.Volumes[i].HostPath(); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Volume returns the definition's volume of that name, or nil.
func (t *TaskDefinition) Volume(name string) *Volume {
	for i := range t.Volumes {
		if t.Volumes[i].Name == name {
			return &t.Volumes[i]
		}
	}
	return nil
}

// HostPathAllowed reports whether a clean absolute path lies under one of
// the prefixes: equal to one, or below it. "/" allows every path.
func HostPathAllowed(prefixes []string, p string) bool {
	for _, pre := range prefixes {
		if pre == "/" || p == pre || strings.HasPrefix(p, pre+"/") {
			return true
		}
	}
	return false
}

// CleanAbsPath reports whether p is an absolute path in its shortest
// form, with no "." or ".." elements, so that a prefix check on it cannot
// be walked around ("/srv/../etc").
func CleanAbsPath(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p
}

// Container returns the definition's container of that name, or nil.
func (t *TaskDefinition) Container(name string) *ContainerDefinition {
	for i := range t.ContainerDefinitions {
		if t.ContainerDefinitions[i].Name == name {
			return &t.ContainerDefinitions[i]
		}
	}
	return nil
}

// NodeVolume is one volume skiff made on a node, as the node's engine
// holds it (GET /v1/volumes). Error, set alone with Node, says that the
// node could not be asked.
type NodeVolume struct {
	Node string `json:"node"`
	// NodeName is filled in by the agent that answers the listing.
	NodeName string `json:"nodeName,omitempty"`
	// Name is the engine's name of the volume; Volume the name in the
	// task definition that made it.
	Name    string            `json:"name,omitempty"`
	Volume  string            `json:"volume,omitempty"`
	Scope   string            `json:"scope,omitempty"`
	Driver  string            `json:"driver,omitempty"`
	Service string            `json:"service,omitempty"`
	Task    string            `json:"task,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Error   string            `json:"error,omitempty"`
}
