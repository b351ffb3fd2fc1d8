package runtime

import (
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/strslice"

	"github.com/skiff-run/skiff/structs"
)

// taskNetwork is the network a task's containers join, and whether it is
// the task's own, which Start makes. A task of several containers gets a
// bridge network of its own, on which they reach each other by name. A
// single container needs no peers and uses the default bridge, which saves
// a network (and its firewall rules) per task. In network mode host or
// none the containers join the host's network or none, whatever their
// number.
func taskNetwork(spec TaskSpec) (name string, own bool) {
	switch mode := spec.Def.NetworkMode; {
	case mode == structs.NetworkHost || mode == structs.NetworkNone:
		return mode, false
	case len(spec.Def.ContainerDefinitions) > 1:
		return NetworkName(spec.Task.ID), true
	}
	return "bridge", false
}

// dependencyTimeout is how long cd waits for each of its dependsOn
// conditions: its startTimeout, else the runtime's default.
func dependencyTimeout(cd *structs.ContainerDefinition, fallback time.Duration) time.Duration {
	if cd.StartTimeout > 0 {
		return seconds(cd.StartTimeout)
	}
	return fallback
}

// applyOptions maps a container's options, and its task's modes and
// budget, onto the engine's configuration that containerConfig built.
// The API has checked them, so the mapping only translates.
func applyOptions(spec TaskSpec, cd *structs.ContainerDefinition, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) {
	o := &cd.ContainerOptions
	cfg.Hostname = o.Hostname
	cfg.OpenStdin = o.Interactive
	cfg.Tty = o.PseudoTerminal
	hc.DNS = o.DNSServers
	if mode := spec.Def.NetworkMode; len(hc.DNS) == 0 && mode != structs.NetworkHost && mode != structs.NetworkNone && !o.DisableNetworking {
		hc.DNS = spec.DNSServers
	}
	hc.DNSSearch = o.DNSSearchDomains
	for _, e := range o.ExtraHosts {
		hc.ExtraHosts = append(hc.ExtraHosts, e.Hostname+":"+e.IPAddress)
	}
	for _, u := range o.Ulimits {
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.SoftLimit, Hard: u.HardLimit})
	}
	hc.ReadonlyRootfs = o.ReadonlyRootFilesystem
	hc.Privileged = o.Privileged
	for _, s := range o.DockerSecurityOptions {
		hc.SecurityOpt = append(hc.SecurityOpt, securityOpt(s))
	}
	if len(o.SystemControls) > 0 {
		hc.Sysctls = map[string]string{}
		for _, s := range o.SystemControls {
			hc.Sysctls[s.Namespace] = s.Value
		}
	}
	applyNetworkMode(spec, cd, cfg, hc, nc)
	applyNamespaces(spec, cd, hc)
	applyBudget(spec.Def, cd, hc)
	applyLinuxParameters(o.LinuxParameters, hc)
}

// securityOpt writes an option in the NAME=VALUE form the engine takes;
// ECS writes NAME:VALUE, of which the engine's colon form is deprecated.
func securityOpt(s string) string {
	name, value, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(name, "=") {
		return s
	}
	return name + "=" + value
}

// applyNetworkMode puts a container of a host or none mode task on that
// network, where ports are not published (in host mode the container
// listens on the host's own) and networks take no aliases. A container
// with networking disabled gets no network at all.
func applyNetworkMode(spec TaskSpec, cd *structs.ContainerDefinition, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) {
	mode := spec.Def.NetworkMode
	if mode == structs.NetworkHost || mode == structs.NetworkNone || cd.DisableNetworking {
		hc.PortBindings = nil
		nc.EndpointsConfig = nil
	}
	if mode == structs.NetworkHost || mode == structs.NetworkNone {
		hc.NetworkMode = container.NetworkMode(mode)
	}
	if cd.DisableNetworking {
		cfg.NetworkDisabled = true
		hc.NetworkMode = container.NetworkMode(structs.NetworkNone)
	}
}

// applyNamespaces gives a container its task's PID and IPC namespaces. In
// mode task the container that starts first holds them, its IPC namespace
// made shareable, and the others join it by name; in mode host they are
// the host's.
func applyNamespaces(spec TaskSpec, cd *structs.ContainerDefinition, hc *container.HostConfig) {
	def := spec.Def
	var holder string
	if def.PidMode == structs.NamespaceTask || def.IpcMode == structs.NamespaceTask {
		// The definition was validated, so its start order exists.
		if order, err := structs.StartOrder(def); err == nil && len(order) > 0 {
			holder = order[0].Name
		}
	}
	join := container.NetworkMode("container:" + ContainerName(spec.Task.ID, holder))
	switch def.PidMode {
	case structs.NamespaceHost:
		hc.PidMode = "host"
	case structs.NamespaceTask:
		if cd.Name != holder {
			hc.PidMode = container.PidMode(join)
		}
	}
	switch def.IpcMode {
	case structs.NamespaceHost:
		hc.IpcMode = "host"
	case "none":
		hc.IpcMode = "none"
	case structs.NamespaceTask:
		hc.IpcMode = "shareable"
		if cd.Name != holder {
			hc.IpcMode = container.IpcMode(join)
		}
	}
}

// applyBudget bounds a container by its task's budget. The engine has no
// limit shared by several containers, so each gets the task's: a
// container without a memory limit of its own gets the task's memory as
// its hard limit, and no default reservation, which the scheduler did not
// count for it; every container gets at most the task's cpu.
func applyBudget(def *structs.TaskDefinition, cd *structs.ContainerDefinition, hc *container.HostConfig) {
	if mem := def.MemoryBudgetMiB(); mem > 0 && cd.Memory == 0 {
		hc.Memory = mem << 20
		if cd.MemoryReservation == 0 {
			hc.MemoryReservation = 0
		}
	}
	if cpu := def.CPUBudget(); cpu > 0 {
		hc.NanoCPUs = cpu * 1e9 / 1024
	}
}

// applyLinuxParameters maps linuxParameters. Sizes are MiB; maxSwap is
// ECS's: the swap a container may use above its memory limit, which the
// engine takes as the limit of memory and swap together.
func applyLinuxParameters(lp *structs.LinuxParameters, hc *container.HostConfig) {
	if lp == nil {
		return
	}
	if c := lp.Capabilities; c != nil {
		hc.CapAdd = capabilities(c.Add)
		hc.CapDrop = capabilities(c.Drop)
	}
	for _, d := range lp.Devices {
		hc.Devices = append(hc.Devices, deviceMapping(d))
	}
	if lp.InitProcessEnabled {
		on := true
		hc.Init = &on
	}
	hc.ShmSize = lp.SharedMemorySize << 20
	if len(lp.Tmpfs) > 0 {
		hc.Tmpfs = map[string]string{}
		for _, t := range lp.Tmpfs {
			hc.Tmpfs[t.ContainerPath] = strings.Join(append([]string{fmt.Sprintf("size=%dm", t.Size)}, t.MountOptions...), ",")
		}
	}
	if lp.MaxSwap != nil && hc.Memory > 0 {
		hc.MemorySwap = hc.Memory + *lp.MaxSwap<<20
		if lp.Swappiness != nil {
			s := int64(*lp.Swappiness)
			hc.MemorySwappiness = &s
		}
	}
}

// capabilities writes capability names as the engine takes them, with
// CAP_ (but ALL as it is).
func capabilities(names []string) strslice.StrSlice {
	var out strslice.StrSlice
	for _, n := range names {
		name, _ := structs.CapabilityName(n)
		if name != "ALL" {
			name = "CAP_" + name
		}
		out = append(out, name)
	}
	return out
}

// deviceMapping maps a device at its own path unless a container path is
// given, with every permission unless some are.
func deviceMapping(d structs.Device) container.DeviceMapping {
	m := container.DeviceMapping{PathOnHost: d.HostPath, PathInContainer: d.ContainerPath, CgroupPermissions: "rwm"}
	if m.PathInContainer == "" {
		m.PathInContainer = d.HostPath
	}
	if len(d.Permissions) > 0 {
		var b strings.Builder
		for _, p := range d.Permissions {
			b.WriteByte(p[0]) // read, write, mknod: r, w, m
		}
		m.CgroupPermissions = b.String()
	}
	return m
}
