package structs

// ContainerOptions are the ECS container fields that shape how the engine
// runs a container beyond its image, command and resources: its names and
// resolvers, limits, privileges and the kernel's view of it. They are
// embedded in ContainerDefinition, so that they keep ECS's field names at
// the container's own level.
type ContainerOptions struct {
	Hostname               string          `json:"hostname,omitempty"`
	DNSServers             []string        `json:"dnsServers,omitempty"`
	DNSSearchDomains       []string        `json:"dnsSearchDomains,omitempty"`
	ExtraHosts             []HostEntry     `json:"extraHosts,omitempty"`
	Ulimits                []Ulimit        `json:"ulimits,omitempty"`
	ReadonlyRootFilesystem bool            `json:"readonlyRootFilesystem,omitempty"`
	DockerSecurityOptions  []string        `json:"dockerSecurityOptions,omitempty"`
	SystemControls         []SystemControl `json:"systemControls,omitempty"`
	Interactive            bool            `json:"interactive,omitempty"`
	PseudoTerminal         bool            `json:"pseudoTerminal,omitempty"`
	DisableNetworking      bool            `json:"disableNetworking,omitempty"`
	// StartTimeout is how many seconds a container's dependencies may take
	// to reach their conditions before it gives up.
	StartTimeout int  `json:"startTimeout,omitempty"`
	Privileged   bool `json:"privileged,omitempty"`
	// LinuxParameters are the Linux-specific options: capabilities,
	// devices, an init process, /dev/shm, tmpfs mounts and swap.
	LinuxParameters *LinuxParameters `json:"linuxParameters,omitempty"`
}

// HostEntry is a line the container's /etc/hosts gets.
type HostEntry struct {
	Hostname  string `json:"hostname"`
	IPAddress string `json:"ipAddress"`
}

// Ulimit is a resource limit of the container's processes.
type Ulimit struct {
	Name      string `json:"name"`
	SoftLimit int64  `json:"softLimit"`
	HardLimit int64  `json:"hardLimit"`
}

// SystemControl is a namespaced kernel parameter (sysctl) of the
// container.
type SystemControl struct {
	Namespace string `json:"namespace"`
	Value     string `json:"value"`
}

// LinuxParameters is ECS's linuxParameters. Sizes are in MiB.
type LinuxParameters struct {
	Capabilities       *KernelCapabilities `json:"capabilities,omitempty"`
	Devices            []Device            `json:"devices,omitempty"`
	InitProcessEnabled bool                `json:"initProcessEnabled,omitempty"`
	SharedMemorySize   int64               `json:"sharedMemorySize,omitempty"`
	Tmpfs              []Tmpfs             `json:"tmpfs,omitempty"`
	MaxSwap            *int64              `json:"maxSwap,omitempty"`
	Swappiness         *int                `json:"swappiness,omitempty"`
}

// KernelCapabilities adds capabilities to Docker's default set, or drops
// them from it.
type KernelCapabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// Device is a host device the container gets.
type Device struct {
	HostPath      string   `json:"hostPath"`
	ContainerPath string   `json:"containerPath,omitempty"`
	Permissions   []string `json:"permissions,omitempty"`
}

// Tmpfs is a tmpfs mount of the container.
type Tmpfs struct {
	ContainerPath string   `json:"containerPath"`
	Size          int64    `json:"size"`
	MountOptions  []string `json:"mountOptions,omitempty"`
}

// TaskOptions are the ECS task definition fields that apply to all of a
// task's containers: the network mode (bridge, host or none) and whether
// its containers share the PID and IPC namespaces of the task or of the
// host. They are embedded in TaskDefinition.
type TaskOptions struct {
	NetworkMode string `json:"networkMode,omitempty"`
	PidMode     string `json:"pidMode,omitempty"`
	IpcMode     string `json:"ipcMode,omitempty"`
}
