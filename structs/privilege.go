package structs

import (
	"fmt"
	"slices"
	"strings"
)

// Network, PID and IPC modes of a task.
const (
	NetworkBridge = "bridge"
	NetworkHost   = "host"
	NetworkNone   = "none"
	NetworkAWSVPC = "awsvpc"
	// NamespaceTask shares one PID or IPC namespace among the containers
	// of a task; NamespaceHost gives them the host's.
	NamespaceTask = "task"
	NamespaceHost = "host"
)

// Capabilities are the Linux capabilities Docker knows, by the names ECS
// and Docker write them without CAP_; "ALL" stands for every one.
var Capabilities = []string{
	"ALL", "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN",
	"DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE",
	"MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "PERFMON",
	"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE",
	"SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM",
}

// DefaultCapabilities are those Docker gives a container unless told
// otherwise. Adding one of them back (after dropping ALL, say) gives a
// container nothing an ordinary one lacks.
var DefaultCapabilities = []string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "NET_RAW",
	"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

// CapabilityName is a capability's name as Capabilities lists it: upper
// case, without CAP_. ok is false when Docker does not know it.
func CapabilityName(s string) (name string, ok bool) {
	name = strings.ToUpper(strings.TrimSpace(s))
	name = strings.TrimPrefix(name, "CAP_")
	return name, slices.Contains(Capabilities, name)
}

// confinementOptions are the dockerSecurityOptions that turn off a
// confinement of the container (its seccomp or AppArmor profile, its
// SELinux labels, the masked /proc and /sys paths) rather than tighten it.
var confinementOptions = []string{"seccomp=unconfined", "seccomp:unconfined", "apparmor=unconfined", "apparmor:unconfined",
	"label=disable", "label:disable", "systempaths=unconfined"}

// Privileges lists what the definition asks of its node beyond what an
// ordinary container gets, each saying which option asks it: privileged
// mode, a host device, the host's network, PID or IPC namespace, a
// capability outside Docker's default set, or a security option that
// turns a confinement off. A node runs such a task only when its agent
// allows privileged containers. Empty for an ordinary task.
func (t *TaskDefinition) Privileges() []string {
	var out []string
	if t.NetworkMode == NetworkHost {
		out = append(out, "networkMode host")
	}
	if t.PidMode == NamespaceHost {
		out = append(out, "pidMode host")
	}
	if t.IpcMode == NamespaceHost {
		out = append(out, "ipcMode host")
	}
	for i := range t.ContainerDefinitions {
		c := &t.ContainerDefinitions[i]
		in := " in container " + c.Name
		if c.Privileged {
			out = append(out, "privileged"+in)
		}
		for _, o := range c.DockerSecurityOptions {
			if slices.Contains(confinementOptions, o) {
				out = append(out, "dockerSecurityOptions "+o+in)
			}
		}
		lp := c.LinuxParameters
		if lp == nil {
			continue
		}
		for _, d := range lp.Devices {
			out = append(out, "device "+d.HostPath+in)
		}
		if lp.Capabilities != nil {
			for _, a := range lp.Capabilities.Add {
				if name, _ := CapabilityName(a); !slices.Contains(DefaultCapabilities, name) {
					out = append(out, fmt.Sprintf("capability %s%s", name, in))
				}
			}
		}
	}
	return out
}
