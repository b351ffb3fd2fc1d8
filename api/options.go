package api

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/skiff-run/skiff/structs"
)

// Bounds of the container options.
const (
	// MaxStartTimeout bounds startTimeout below the time a node gives a
	// whole task to start (5 minutes), so that a container's own bound is
	// the one that ends a wait.
	MaxStartTimeout = 240
	MinStartTimeout = 2 // ECS's least
	maxHostnameLen  = 64
	maxDomainLen    = 253
	MaxSwappiness   = 100
)

// ulimitNames are the resource limits Docker sets, by ECS's names.
var ulimitNames = []string{"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
	"rss", "rtprio", "rttime", "sigpending", "stack"}

// namespacedSysctls are the kernel parameters a container has its own of,
// which are the only ones Docker sets: IPC's, and those with the prefixes
// below.
var namespacedSysctls = []string{"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
	"kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}

// tmpfsOptions are the mount options ECS takes for a tmpfs; those that
// take a value are written NAME=VALUE.
var tmpfsOptions = []string{"defaults", "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync", "async",
	"dirsync", "remount", "mand", "nomand", "atime", "noatime", "diratime", "nodiratime", "bind", "rbind", "unbindable",
	"runbindable", "private", "rprivate", "shared", "rshared", "slave", "rslave", "relatime", "norelatime", "strictatime",
	"nostrictatime", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"}

// hostnameRE matches a DNS name: dot-separated labels of letters, digits
// and inner hyphens.
var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// checkTaskModes checks the task's network, PID and IPC modes.
func checkTaskModes(td *structs.TaskDefinition, path string) error {
	switch td.NetworkMode {
	case "", structs.NetworkBridge, structs.NetworkHost, structs.NetworkNone:
	case structs.NetworkAWSVPC:
		return fieldErr(join(path, "networkMode"), "awsvpc gives each task an elastic network interface of an AWS VPC, which only ECS provides; expected bridge, host or none")
	default:
		return fieldErr(join(path, "networkMode"), "%q: expected bridge, host or none", td.NetworkMode)
	}
	if m := td.PidMode; m != "" && m != structs.NamespaceTask && m != structs.NamespaceHost {
		return fieldErr(join(path, "pidMode"), "%q: expected task or host", m)
	}
	if m := td.IpcMode; m != "" && m != structs.NamespaceTask && m != structs.NamespaceHost && m != "none" {
		return fieldErr(join(path, "ipcMode"), "%q: expected task, host or none", m)
	}
	return nil
}

// checkContainerOptions checks one container's options; p names the
// container, td is its task (whose modes checkTaskModes has checked).
func checkContainerOptions(p string, cd *structs.ContainerDefinition, td *structs.TaskDefinition) error {
	host := td.NetworkMode == structs.NetworkHost
	if h := cd.Hostname; h != "" {
		if len(h) > maxHostnameLen || !hostnameRE.MatchString(h) {
			return fieldErr(p+".hostname", "%q: expected a host name of letters, digits, hyphens and dots, at most %d characters", h, maxHostnameLen)
		}
		if host {
			return fieldErr(p+".hostname", "in networkMode host the container has the host's name; leave hostname out")
		}
	}
	for j, s := range cd.DNSServers {
		if net.ParseIP(s) == nil {
			return fieldErr(fmt.Sprintf("%s.dnsServers[%d]", p, j), "%q: expected an IP address", s)
		}
	}
	for j, d := range cd.DNSSearchDomains {
		if len(d) > maxDomainLen || !hostnameRE.MatchString(d) {
			return fieldErr(fmt.Sprintf("%s.dnsSearchDomains[%d]", p, j), "%q: expected a domain name", d)
		}
	}
	for j, e := range cd.ExtraHosts {
		ep := fmt.Sprintf("%s.extraHosts[%d]", p, j)
		if len(e.Hostname) > maxDomainLen || !hostnameRE.MatchString(e.Hostname) {
			return fieldErr(ep+".hostname", "%q: expected a host name", e.Hostname)
		}
		if net.ParseIP(e.IPAddress) == nil {
			return fieldErr(ep+".ipAddress", "%q: expected an IP address", e.IPAddress)
		}
	}
	if err := checkUlimits(p, cd.Ulimits); err != nil {
		return err
	}
	if err := checkSecurityOptions(p, cd.DockerSecurityOptions); err != nil {
		return err
	}
	if err := checkSystemControls(p, cd.SystemControls, host); err != nil {
		return err
	}
	if t := cd.StartTimeout; t != 0 && (t < MinStartTimeout || t > MaxStartTimeout) {
		return fieldErr(p+".startTimeout", "%d is out of range: expected 0 (the node's default) or %d to %d seconds", t, MinStartTimeout, MaxStartTimeout)
	}
	for j, pm := range cd.PortMappings {
		pp := fmt.Sprintf("%s.portMappings[%d]", p, j)
		switch {
		case td.NetworkMode == structs.NetworkNone:
			return fieldErr(pp, "networkMode none gives the task no network to map ports from")
		case cd.DisableNetworking:
			return fieldErr(pp, "disableNetworking gives the container no network to map ports from")
		// ECS's rule: in host mode the container listens on the host's
		// own port, so there is nothing to map it to.
		case host && pm.HostPort != 0 && pm.HostPort != pm.ContainerPort:
			return fieldErr(pp+".hostPort", "%d: in networkMode host the container listens on the host's port, so hostPort must equal containerPort (%d) or be left out", pm.HostPort, pm.ContainerPort)
		}
	}
	if len(cd.Links) > 0 && (host || td.NetworkMode == structs.NetworkNone) {
		return fieldErr(p+".links", "links need networkMode bridge; in networkMode %s a task has no network of its own to link on", td.NetworkMode)
	}
	return checkLinuxParameters(p+".linuxParameters", cd, td)
}

func checkUlimits(p string, us []structs.Ulimit) error {
	seen := map[string]bool{}
	for j, u := range us {
		up := fmt.Sprintf("%s.ulimits[%d]", p, j)
		if !slices.Contains(ulimitNames, u.Name) {
			return fieldErr(up+".name", "%q: expected one of %s", u.Name, strings.Join(ulimitNames, ", "))
		}
		if seen[u.Name] {
			return fieldErr(up+".name", "ulimit %s is given twice", u.Name)
		}
		seen[u.Name] = true
		// -1 is unlimited, as Docker takes it.
		for _, l := range []struct {
			name string
			v    int64
		}{{"softLimit", u.SoftLimit}, {"hardLimit", u.HardLimit}} {
			if l.v < -1 {
				return fieldErr(up+"."+l.name, "%d is out of range: expected -1 (unlimited) or more", l.v)
			}
		}
		if u.HardLimit != -1 && (u.SoftLimit == -1 || u.SoftLimit > u.HardLimit) {
			return fieldErr(up+".softLimit", "%d is more than hardLimit (%d)", u.SoftLimit, u.HardLimit)
		}
	}
	return nil
}

// checkSecurityOptions takes the options ECS lists for Linux, in Docker's
// NAME=VALUE or ECS's NAME:VALUE form. A seccomp profile is JSON the
// client sends, not a path, so only seccomp=unconfined is taken.
func checkSecurityOptions(p string, opts []string) error {
	for j, o := range opts {
		name, value, _ := strings.Cut(strings.Replace(o, ":", "=", 1), "=")
		ok := false
		switch name {
		case "no-new-privileges":
			ok = value == "" || value == "true" || value == "false"
		case "apparmor":
			ok = value != ""
		case "label":
			kind, v, _ := strings.Cut(value, ":")
			ok = value == "disable" || (v != "" && slices.Contains([]string{"user", "role", "type", "level"}, kind))
		case "seccomp", "systempaths":
			ok = value == "unconfined"
		case "credentialspec":
			return fieldErr(fmt.Sprintf("%s.dockerSecurityOptions[%d]", p, j), "%q: credential specs are for Windows containers", o)
		}
		if !ok {
			return fieldErr(fmt.Sprintf("%s.dockerSecurityOptions[%d]", p, j),
				"%q: expected no-new-privileges, apparmor:PROFILE, label:disable, label:{user,role,type,level}:VALUE, seccomp:unconfined or systempaths=unconfined", o)
		}
	}
	return nil
}

func checkSystemControls(p string, scs []structs.SystemControl, host bool) error {
	seen := map[string]bool{}
	for j, s := range scs {
		sp := fmt.Sprintf("%s.systemControls[%d]", p, j)
		ns := s.Namespace
		if !slices.Contains(namespacedSysctls, ns) && !strings.HasPrefix(ns, "fs.mqueue.") && !strings.HasPrefix(ns, "net.") {
			return fieldErr(sp+".namespace", "%q: expected a namespaced kernel parameter: net.*, fs.mqueue.* or one of %s", ns, strings.Join(namespacedSysctls, ", "))
		}
		if host && strings.HasPrefix(ns, "net.") {
			return fieldErr(sp+".namespace", "%q: in networkMode host a net.* parameter would be the host's own", ns)
		}
		if seen[ns] {
			return fieldErr(sp+".namespace", "%s is given twice", ns)
		}
		seen[ns] = true
		if strings.TrimSpace(s.Value) == "" {
			return fieldErr(sp+".value", "required: the value of %s", ns)
		}
	}
	return nil
}

func checkLinuxParameters(p string, cd *structs.ContainerDefinition, td *structs.TaskDefinition) error {
	lp := cd.LinuxParameters
	if lp == nil {
		return nil
	}
	if c := lp.Capabilities; c != nil {
		for _, l := range []struct {
			name string
			caps []string
		}{{"add", c.Add}, {"drop", c.Drop}} {
			for j, cp := range l.caps {
				if _, ok := structs.CapabilityName(cp); !ok {
					return fieldErr(fmt.Sprintf("%s.capabilities.%s[%d]", p, l.name, j), "%q: expected a Linux capability such as NET_ADMIN or CAP_SYS_PTRACE", cp)
				}
			}
		}
	}
	for j, d := range lp.Devices {
		dp := fmt.Sprintf("%s.devices[%d]", p, j)
		if !structs.CleanAbsPath(d.HostPath) {
			return fieldErr(dp+".hostPath", "%q: expected the clean absolute path of a host device such as /dev/fuse", d.HostPath)
		}
		if d.ContainerPath != "" && !structs.CleanAbsPath(d.ContainerPath) {
			return fieldErr(dp+".containerPath", "%q: expected a clean absolute path, or none for the host path", d.ContainerPath)
		}
		seen := map[string]bool{}
		for k, perm := range d.Permissions {
			if (perm != "read" && perm != "write" && perm != "mknod") || seen[perm] {
				return fieldErr(fmt.Sprintf("%s.permissions[%d]", dp, k), "%q: expected read, write or mknod, each once", perm)
			}
			seen[perm] = true
		}
	}
	if s := lp.SharedMemorySize; s < 0 || s > MaxMemoryMiB {
		return fieldErr(p+".sharedMemorySize", "%d is out of range: expected 0 (Docker's 64 MiB) to %d MiB", s, MaxMemoryMiB)
	}
	if lp.SharedMemorySize > 0 && td.IpcMode == structs.NamespaceHost {
		return fieldErr(p+".sharedMemorySize", "in ipcMode host the container uses the host's /dev/shm")
	}
	paths := map[string]bool{}
	for j, tf := range lp.Tmpfs {
		tp := fmt.Sprintf("%s.tmpfs[%d]", p, j)
		if !structs.CleanAbsPath(tf.ContainerPath) || tf.ContainerPath == "/" {
			return fieldErr(tp+".containerPath", "%q: expected a clean absolute path other than /", tf.ContainerPath)
		}
		if paths[tf.ContainerPath] {
			return fieldErr(tp+".containerPath", "%s has two tmpfs mounts", tf.ContainerPath)
		}
		paths[tf.ContainerPath] = true
		if tf.Size < 1 || tf.Size > MaxMemoryMiB {
			return fieldErr(tp+".size", "%d is out of range: expected 1 to %d MiB", tf.Size, MaxMemoryMiB)
		}
		for k, o := range tf.MountOptions {
			name, value, hasValue := strings.Cut(o, "=")
			if !slices.Contains(tmpfsOptions, name) || (hasValue && value == "") || strings.ContainsAny(o, ", ") || strings.HasPrefix(o, "size") {
				return fieldErr(fmt.Sprintf("%s.mountOptions[%d]", tp, k), "%q: expected a tmpfs mount option such as noexec, nosuid or mode=1777 (the size is size's)", o)
			}
		}
	}
	if s := lp.MaxSwap; s != nil {
		if *s < 0 || *s > MaxMemoryMiB {
			return fieldErr(p+".maxSwap", "%d is out of range: expected 0 (no swap) to %d MiB", *s, MaxMemoryMiB)
		}
		if cd.Memory == 0 && td.MemoryBudgetMiB() == 0 {
			return fieldErr(p+".maxSwap", "swap is counted above the memory limit: give the container memory, or the task memory")
		}
	}
	if s := lp.Swappiness; s != nil && (*s < 0 || *s > MaxSwappiness) {
		return fieldErr(p+".swappiness", "%d is out of range: expected 0 to %d", *s, MaxSwappiness)
	}
	return nil
}

// checkTaskBudget checks the task-level cpu and memory, and that its
// containers fit in them: together for cpu and for what they reserve,
// each for its memory limit.
func checkTaskBudget(td *structs.TaskDefinition, path string) error {
	cpu, err := td.TaskCPU.CPUUnits()
	if err != nil {
		return fieldErr(join(path, "cpu"), "%v", err)
	}
	if cpu > MaxCPUUnits {
		return fieldErr(join(path, "cpu"), "%d units is out of range: expected up to %d (64 vCPU)", cpu, MaxCPUUnits)
	}
	mem, err := td.TaskMemory.MiB()
	if err != nil {
		return fieldErr(join(path, "memory"), "%v", err)
	}
	if mem != 0 && (mem < MinMemoryMiB || mem > MaxMemoryMiB) {
		return fieldErr(join(path, "memory"), "%d MiB is out of range: expected %d to %d MiB", mem, MinMemoryMiB, MaxMemoryMiB)
	}
	cp := join(path, "containerDefinitions")
	var cpus, reserved int64
	for i := range td.ContainerDefinitions {
		cd := &td.ContainerDefinitions[i]
		cpus += cd.CPU
		if cd.MemoryReservation > 0 || cd.Memory > 0 {
			reserved += cd.ReservedMemoryMiB()
		}
		if mem > 0 && cd.Memory > mem {
			return fieldErr(fmt.Sprintf("%s[%d].memory", cp, i), "%d MiB is more than the task's memory (%d MiB)", cd.Memory, mem)
		}
	}
	if cpu > 0 && cpus > cpu {
		return fieldErr(join(path, "cpu"), "%d units is less than the containers' cpu together (%d)", cpu, cpus)
	}
	if mem > 0 && reserved > mem {
		return fieldErr(join(path, "memory"), "%d MiB is less than the containers reserve together (%d MiB)", mem, reserved)
	}
	return nil
}

// checkTaskNamespaces checks what a task's modes ask of its containers
// together: that host-mode ports are not taken twice, and that the
// container holding a task's shared namespaces (the first to start) lives
// while the others join it.
func checkTaskNamespaces(td *structs.TaskDefinition, path string, order []*structs.ContainerDefinition) error {
	cp := join(path, "containerDefinitions")
	if td.NetworkMode == structs.NetworkHost {
		ports := map[int]string{}
		for i := range td.ContainerDefinitions {
			for j, pm := range td.ContainerDefinitions[i].PortMappings {
				pp := fmt.Sprintf("%s[%d].portMappings[%d]", cp, i, j)
				if other, dup := ports[pm.ContainerPort]; dup {
					return fieldErr(pp+".containerPort", "in networkMode host port %d is the host's, and %s takes it already", pm.ContainerPort, other)
				}
				ports[pm.ContainerPort] = pp
			}
		}
	}
	if td.PidMode != structs.NamespaceTask && td.IpcMode != structs.NamespaceTask {
		return nil
	}
	holder := order[0]
	for i := range td.ContainerDefinitions {
		cd := &td.ContainerDefinitions[i]
		for j, d := range cd.DependsOn {
			if d.ContainerName == holder.Name && (d.Condition == "COMPLETE" || d.Condition == "SUCCESS") {
				return fieldErr(fmt.Sprintf("%s[%d].dependsOn[%d].condition", cp, i, j),
					"%s: container %s starts first and holds the task's shared PID and IPC namespaces (pidMode/ipcMode task), so it must keep running", d.Condition, holder.Name)
			}
		}
		if lp := cd.LinuxParameters; td.IpcMode == structs.NamespaceTask && cd != holder && lp != nil && lp.SharedMemorySize > 0 {
			return fieldErr(fmt.Sprintf("%s[%d].linuxParameters.sharedMemorySize", cp, i),
				"in ipcMode task the containers share the /dev/shm of %s, which starts first; give sharedMemorySize there", holder.Name)
		}
	}
	return nil
}

// optionWarnings lists options a valid definition gives that ECS ignores,
// and so does skiff.
func optionWarnings(td *structs.TaskDefinition, path string) []string {
	var out []string
	for i := range td.ContainerDefinitions {
		if lp := td.ContainerDefinitions[i].LinuxParameters; lp != nil && lp.Swappiness != nil && lp.MaxSwap == nil {
			out = append(out, fmt.Sprintf("%s[%d].linuxParameters.swappiness is ignored without maxSwap, as ECS ignores it",
				join(path, "containerDefinitions"), i))
		}
	}
	return out
}
