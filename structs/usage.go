package structs

// NodeUsage is what a node offers, what its tasks reserve and what its
// task containers use (GET /v1/usage). Error, set alone with Node, says
// that the node could not be asked.
type NodeUsage struct {
	Node     string `json:"node"`
	NodeName string `json:"nodeName,omitempty"`
	// CPU and MemoryMiB are what the node offers; the reserved figures
	// are the sums of its active tasks' sizes.
	CPU               int64 `json:"cpu,omitempty"`
	MemoryMiB         int64 `json:"memory,omitempty"`
	CPUReserved       int64 `json:"cpuReserved,omitempty"`
	MemoryReservedMiB int64 `json:"memoryReserved,omitempty"`
	// CPUUsed is in cpu units (1024 a core), over the time since the
	// sample before; MemoryUsedBytes the containers' memory in use.
	CPUUsed         float64 `json:"cpuUsed"`
	MemoryUsedBytes int64   `json:"memoryUsedBytes"`
	// SampledAt is when the engine was asked, Unix milliseconds.
	SampledAt  int64            `json:"sampledAt,omitempty"`
	Containers []ContainerUsage `json:"containers,omitempty"`
	Error      string           `json:"error,omitempty"`
}

// ContainerUsage is what one running task container uses.
type ContainerUsage struct {
	Task      string `json:"task"`
	Service   string `json:"service,omitempty"`
	Container string `json:"container"`
	// CPUPercent is of one core, over the time since the sample before
	// (0 in a container's first sample); CPUSeconds is counted since the
	// container started, as are the network bytes.
	CPUPercent  float64 `json:"cpuPercent"`
	CPUSeconds  float64 `json:"cpuSeconds"`
	MemoryBytes int64   `json:"memoryBytes"`
	NetRxBytes  int64   `json:"netRxBytes"`
	NetTxBytes  int64   `json:"netTxBytes"`
	Restarts    int     `json:"restarts"`
}
