// Package structs holds the cluster's types and their validation: nodes,
// task definitions, services, tasks and placement rules. It depends on
// nothing else of skiff's and on no storage, so that every layer (the API,
// the scheduler, the runtime, the state machine) can share it.
package structs

import (
	"errors"
	"strconv"
)

// ErrNotFound marks a request or command that names something the state
// lacks.
var ErrNotFound = errors.New("not found")

// ErrConflict marks a request or command that the state as it is rules
// out, such as a placement on a node without room, of a task that is
// already placed, or a listener port another service has.
var ErrConflict = errors.New("conflict")

// Task statuses, named as ECS names them.
const (
	StatusPending = "PENDING"
	StatusRunning = "RUNNING"
	StatusStopped = "STOPPED"
	// StatusLost marks a task whose node went down: nobody can say whether
	// it still runs. Its service replaces it; its node stops it on return.
	StatusLost = "LOST"
)

// Node statuses and eligibility.
const (
	NodeReady = "ready"
	NodeDown  = "down"

	EligibilityEligible   = "eligible"
	EligibilityIneligible = "ineligible"
)

// Node is one container instance: a host running a skiff agent.
type Node struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Address    string            `json:"address"`
	APIAddress string            `json:"apiAddress"`
	CPU        int64             `json:"cpu"`
	MemoryMiB  int64             `json:"memory"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Status     string            `json:"status"`
	// StatusReason says why a node is down; empty while it is ready.
	StatusReason string `json:"statusReason,omitempty"`
	Eligibility  string `json:"eligibility"`
	// EngineError is what the node's container engine last answered when
	// the node could not reach it a few times in a row; empty while the
	// engine answers. The node reports it, and the leader marks the node
	// down while it is set.
	EngineError string `json:"engineError,omitempty"`
	// DiskUsedPercent is how full, in whole percent, the disk of the
	// node's engine's data root was when the node last looked (once a
	// minute); 0 when it cannot say. The node registers it again when it
	// changes.
	DiskUsedPercent int `json:"diskUsedPercent,omitempty"`
	// GPUs is how many GPUs the node offers, numbered from 0; tasks get
	// whole ones.
	GPUs int `json:"gpus,omitempty"`
	// PortRange is the inclusive range dynamic host ports are taken from.
	PortMin int `json:"portMin"`
	PortMax int `json:"portMax"`
	// UpdatedAt is the leader's clock when the node was last registered.
	UpdatedAt int64 `json:"updatedAt"`
	// AllowedHostPaths are the host path prefixes under which the node
	// lets tasks bind mount (its agent's --allow-host-path; "/" allows
	// any). Empty allows none.
	AllowedHostPaths []string `json:"allowedHostPaths,omitempty"`
	// AllowPrivileged says that the node runs tasks that ask for more of
	// the host than an ordinary container (its agent's
	// --allow-privileged); see TaskDefinition.Privileges.
	AllowPrivileged bool `json:"allowPrivileged,omitempty"`
	// Tags are the node's agent's --tag labels.
	Tags []Tag `json:"tags,omitempty"`
	// Cluster is the pool the node joined (its agent's --cluster); the
	// scheduler places a task only on nodes of the task's pool. Empty
	// is DefaultCluster, as nodes registered before pools existed are.
	Cluster string `json:"cluster,omitempty"`
}

// DefaultCluster is the pool of nodes, services and tasks that name none.
const DefaultCluster = "default"

// ClusterName is the pool a cluster field names: itself, or DefaultCluster
// when it is empty.
func ClusterName(c string) string {
	if c == "" {
		return DefaultCluster
	}
	return c
}

// InCluster reports whether the node belongs to the pool c names.
func (n *Node) InCluster(c string) bool { return ClusterName(n.Cluster) == ClusterName(c) }

// KeyValue is an ECS environment entry.
type KeyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// PortMapping maps a container port to a host port. HostPort 0 asks the
// scheduler for a dynamic port.
type PortMapping struct {
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	Protocol      string `json:"protocol,omitempty"`
}

// ContainerDependency is an ECS dependsOn entry.
type ContainerDependency struct {
	ContainerName string `json:"containerName"`
	Condition     string `json:"condition"`
}

// HealthCheck is an ECS container health check. Durations are seconds.
type HealthCheck struct {
	Command     []string `json:"command"`
	Interval    int      `json:"interval,omitempty"`
	Timeout     int      `json:"timeout,omitempty"`
	Retries     int      `json:"retries,omitempty"`
	StartPeriod int      `json:"startPeriod,omitempty"`
}

// Defaults for what a container definition leaves out. ECS refuses a
// container with neither memory nor memoryReservation; skiff accepts one,
// as it always has, but reserves DefaultMemoryReservationMiB for it instead
// of letting it run unbounded at no cost to its node. Every container gets
// at most DefaultPidsLimit processes unless its pidsLimit says otherwise.
// Containers log to json-file, rotated at DefaultLogMaxSize and keeping
// DefaultLogMaxFile files, unless their logConfiguration says otherwise, so
// that logs cannot fill the disk that also holds the Raft log.
const (
	DefaultMemoryReservationMiB = 128
	DefaultPidsLimit            = 1024
	DefaultLogDriver            = "json-file"
	DefaultLogMaxSize           = "10m"
	DefaultLogMaxFile           = "3"
)

// ContainerDefinition is one container of a task definition.
type ContainerDefinition struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	CPU   int64  `json:"cpu,omitempty"`
	// Memory is the hard limit in MiB: the container is killed above it.
	Memory int64 `json:"memory,omitempty"`
	// MemoryReservation is the soft limit in MiB, which the engine
	// reclaims down to when the host runs short.
	MemoryReservation int64 `json:"memoryReservation,omitempty"`
	// PidsLimit caps the container's processes and threads; 0 means
	// DefaultPidsLimit. It is skiff's, not ECS's.
	PidsLimit        int64                 `json:"pidsLimit,omitempty"`
	LogConfiguration *LogConfiguration     `json:"logConfiguration,omitempty"`
	Essential        *bool                 `json:"essential,omitempty"`
	EntryPoint       []string              `json:"entryPoint,omitempty"`
	Command          []string              `json:"command,omitempty"`
	Environment      []KeyValue            `json:"environment,omitempty"`
	PortMappings     []PortMapping         `json:"portMappings,omitempty"`
	DependsOn        []ContainerDependency `json:"dependsOn,omitempty"`
	Links            []string              `json:"links,omitempty"`
	HealthCheck      *HealthCheck          `json:"healthCheck,omitempty"`
	WorkingDirectory string                `json:"workingDirectory,omitempty"`
	User             string                `json:"user,omitempty"`
	StopTimeout      int                   `json:"stopTimeout,omitempty"`
	DockerLabels     map[string]string     `json:"dockerLabels,omitempty"`
	// MountPoints mount the task's volumes into the container, and
	// VolumesFrom mounts every volume of other containers of the task.
	MountPoints []MountPoint `json:"mountPoints,omitempty"`
	VolumesFrom []VolumeFrom `json:"volumesFrom,omitempty"`
	// Secrets become environment variables when the container starts;
	// the definition holds only the names of the secrets they come from.
	Secrets []SecretRef `json:"secrets,omitempty"`
	// RepositoryCredentials names the secret the image is pulled with.
	RepositoryCredentials *RepositoryCredentials `json:"repositoryCredentials,omitempty"`
	// EnvironmentFiles are refused by the API: skiff cannot read S3.
	EnvironmentFiles []EnvironmentFile `json:"environmentFiles,omitempty"`
	// ResourceRequirements asks for GPUs, as ECS's do.
	ResourceRequirements []ResourceRequirement `json:"resourceRequirements,omitempty"`
	ContainerOptions
}

// ResourceRequirement is an ECS resourceRequirement; skiff knows the type
// GPU, whose value is a count of whole GPUs.
type ResourceRequirement struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// ResourceGPU is the resourceRequirement type of GPUs.
const ResourceGPU = "GPU"

// GPUs is how many GPUs the container asks for; a value that is not a
// count, which validation refuses, counts as none.
func (c *ContainerDefinition) GPUs() int {
	n := 0
	for _, r := range c.ResourceRequirements {
		if r.Type == ResourceGPU {
			v, _ := strconv.Atoi(r.Value)
			n += max(v, 0)
		}
	}
	return n
}

// LogConfiguration is an ECS container's logConfiguration: a Docker log
// driver and its options.
type LogConfiguration struct {
	LogDriver string            `json:"logDriver"`
	Options   map[string]string `json:"options,omitempty"`
}

// AWSOnly reports whether the driver works only inside AWS: awslogs needs
// AWS credentials and awsfirelens is ECS's own log router. A container
// whose definition asks for one is logged the default way instead, so that
// a real ECS task definition runs as it is.
func (l *LogConfiguration) AWSOnly() bool {
	return l.LogDriver == "awslogs" || l.LogDriver == "awsfirelens"
}

// Driver is the log driver a container with this configuration runs with:
// the one it names, else json-file, which also stands in for a driver that
// works only in AWS.
func (l *LogConfiguration) Driver() string {
	if l == nil || l.AWSOnly() {
		return DefaultLogDriver
	}
	return l.LogDriver
}

// LogsKept reports whether the engine keeps a container's logs to read
// back whatever its daemon's settings: json-file, local and journald are
// read from where they write. Of the others, none keeps nothing, and the
// rest (syslog, fluentd, gelf, plugins ...) can be read only from the copy
// Docker's dual logging keeps, which a daemon may turn off.
func LogsKept(driver string) bool {
	return driver == "json-file" || driver == "local" || driver == "journald"
}

// ReservedMemoryMiB is the memory the container takes from its node's
// capacity, as ECS counts it: its memoryReservation, else its memory, else
// DefaultMemoryReservationMiB.
func (c *ContainerDefinition) ReservedMemoryMiB() int64 {
	switch {
	case c.MemoryReservation > 0:
		return c.MemoryReservation
	case c.Memory > 0:
		return c.Memory
	}
	return DefaultMemoryReservationMiB
}

// IsEssential reports whether the container's exit stops its task. ECS
// treats a missing essential flag as true.
func (c *ContainerDefinition) IsEssential() bool { return c.Essential == nil || *c.Essential }

// TaskDefinition is an immutable, versioned recipe for a task.
type TaskDefinition struct {
	Family               string                `json:"family"`
	Revision             int                   `json:"revision,omitempty"`
	ContainerDefinitions []ContainerDefinition `json:"containerDefinitions"`
	// Volumes are the task's data volumes, which its containers mount by
	// name through their mountPoints.
	Volumes []Volume `json:"volumes,omitempty"`
	TaskOptions
	// TaskCPU and TaskMemory are ECS's task-level cpu and memory: the
	// budget of the whole task, which the scheduler counts when it is
	// more than its containers ask for together.
	TaskCPU    TaskSize `json:"cpu,omitempty"`
	TaskMemory TaskSize `json:"memory,omitempty"`
	// Tags label the definition; they are part of it, so other tags make
	// another revision, as every registration does in ECS.
	Tags []Tag `json:"tags,omitempty"`
}

// Ref is the definition's reference, "family:revision".
func (t *TaskDefinition) Ref() string { return TaskDefRef(t.Family, t.Revision) }

// CPU is the cpu units the task takes from its node: the sum of its
// containers' cpu units, or its task-level cpu when that is more (the API
// refuses containers that ask for more than it together).
func (t *TaskDefinition) CPU() int64 {
	var n int64
	for i := range t.ContainerDefinitions {
		n += t.ContainerDefinitions[i].CPU
	}
	return max(n, t.CPUBudget())
}

// GPUs is the sum of the containers' GPUs.
func (t *TaskDefinition) GPUs() int {
	n := 0
	for i := range t.ContainerDefinitions {
		n += t.ContainerDefinitions[i].GPUs()
	}
	return n
}

// MemoryMiB is the memory the task takes from its node. Without a
// task-level memory it is the sum of its containers' ReservedMemoryMiB.
// With one, a container that reserves nothing of its own shares the
// task's budget instead of reserving the default, and the task takes its
// budget, or what its containers reserve together when that is more (the
// API refuses that).
func (t *TaskDefinition) MemoryMiB() int64 {
	budget := t.MemoryBudgetMiB()
	var n int64
	for i := range t.ContainerDefinitions {
		c := &t.ContainerDefinitions[i]
		if budget > 0 && c.MemoryReservation == 0 && c.Memory == 0 {
			continue
		}
		n += c.ReservedMemoryMiB()
	}
	return max(n, budget)
}

// PlacementStrategy is an ECS placement strategy: binpack (field memory or
// cpu), spread (field node or attribute:KEY) or random.
type PlacementStrategy struct {
	Type  string `json:"type"`
	Field string `json:"field,omitempty"`
}

// PlacementConstraint is an ECS placement constraint: distinctInstance, or
// memberOf with an expression "attribute:KEY == VALUE" or "!=".
type PlacementConstraint struct {
	Type       string `json:"type"`
	Expression string `json:"expression,omitempty"`
}

// RestartPolicy bounds how quickly a service's failed tasks are replaced.
type RestartPolicy struct {
	// MaxBackoffSeconds caps the delay between replacements of a service
	// whose tasks keep failing; the delay doubles from one second.
	MaxBackoffSeconds int `json:"maxBackoffSeconds,omitempty"`
}

// Conditions of a service dependency, as compose names them: the
// dependency's tasks run, their essential containers with a health check
// are healthy, or they have exited 0.
const (
	ConditionStarted               = "service_started"
	ConditionHealthy               = "service_healthy"
	ConditionCompletedSuccessfully = "service_completed_successfully"
)

// ServiceDependency is one service another waits for before its tasks are
// placed, and the state that service's tasks must reach.
type ServiceDependency struct {
	Service   string `json:"service"`
	Condition string `json:"condition"`
}

// Scheduling strategies, as ECS names them. REPLICA keeps DesiredCount
// tasks; DAEMON keeps one task on every ready, eligible node that meets the
// placement constraints.
const (
	SchedulingReplica = "REPLICA"
	SchedulingDaemon  = "DAEMON"
)

// SchedulerExternal is the Service.Scheduler of a service whose tasks an
// outside program places: the leader keeps its desired count of tasks,
// but creates them unplaced and leaves them PENDING until a placement
// (POST /v1/tasks/{id}/place) gives each a node.
const SchedulerExternal = "external"

// Service keeps DesiredCount copies of a task definition running, or, as
// a daemon, one on every node that may run it.
type Service struct {
	Name           string `json:"name"`
	TaskDefinition string `json:"taskDefinition"`
	DesiredCount   int    `json:"desiredCount"`
	// SchedulingStrategy is SchedulingDaemon or empty, for a replica
	// service; replica services leave it empty so that their entries read
	// as they did before daemons existed.
	SchedulingStrategy   string                `json:"schedulingStrategy,omitempty"`
	PlacementStrategy    []PlacementStrategy   `json:"placementStrategy,omitempty"`
	PlacementConstraints []PlacementConstraint `json:"placementConstraints,omitempty"`
	RestartPolicy        RestartPolicy         `json:"restartPolicy"`
	// Project is the compose project the service came from, if any, so
	// that the project's services can be found and removed together.
	Project string `json:"project,omitempty"`
	// Source is the directory `skiff apply -f DIR` applied the service
	// from, as that command names it, if any, so that a later apply of
	// the same directory with --prune can remove the services it no
	// longer holds and only those.
	Source string `json:"source,omitempty"`
	// DependsOn holds the service's tasks back from placement until every
	// service it names has its tasks in the state it asks for.
	DependsOn []ServiceDependency `json:"dependsOn,omitempty"`
	// PlacementFailure is why the leader last failed to place the
	// service's tasks; nil once they all found a node. Only the leader's
	// plans set it.
	PlacementFailure *PlacementFailure `json:"placementFailure,omitempty"`
	// DeploymentConfiguration bounds the service's rollouts, and
	// HealthCheckGracePeriodSeconds is how long a new task's failing
	// health check does not count against its deployment.
	DeploymentConfiguration       *DeploymentConfiguration `json:"deploymentConfiguration,omitempty"`
	HealthCheckGracePeriodSeconds int                      `json:"healthCheckGracePeriodSeconds,omitempty"`
	// Deployments are the service's latest rollouts, oldest first; only
	// the leader's UpdateDeployment entries write them.
	Deployments []Deployment `json:"deployments,omitempty"`
	// RestartedAt is when `skiff restart` last asked for the service's
	// tasks to be replaced: tasks created before it count as old and are
	// replaced as a new revision's would be.
	RestartedAt int64 `json:"restartedAt,omitempty"`
	// Rebalance, when false, keeps the leader from moving the service's
	// tasks toward an even spread when a node joins or returns. Nil means
	// true.
	Rebalance *bool `json:"rebalance,omitempty"`
	// LoadBalancers are the ports of the service's tasks that every agent
	// serves on a listener port of its own (see package ingress).
	LoadBalancers []LoadBalancer `json:"loadBalancers,omitempty"`
	// Tags label the service; its tasks carry them with their
	// definition's.
	Tags      []Tag `json:"tags,omitempty"`
	CreatedAt int64 `json:"createdAt"`
	UpdatedAt int64 `json:"updatedAt"`
	// Cluster is the pool the service's tasks run in; empty is
	// DefaultCluster.
	Cluster string `json:"cluster,omitempty"`
	// Scheduler is SchedulerExternal for a service whose tasks an outside
	// program places, or empty for the leader's own scheduler.
	Scheduler string `json:"scheduler,omitempty"`
}

// Rebalances reports whether the leader may move the service's tasks
// toward an even spread: it is a replica service that spreads over nodes
// or a node attribute first, is placed by the leader (not an outside
// scheduler) and has not opted out.
func (s *Service) Rebalances() bool {
	if s.IsDaemon() || s.IsExternal() || (s.Rebalance != nil && !*s.Rebalance) || len(s.PlacementStrategy) == 0 {
		return false
	}
	first, err := s.PlacementStrategy[0].Parse()
	return err == nil && first.Type == "spread"
}

// IsExternal reports whether an outside program places the service's
// tasks.
func (s *Service) IsExternal() bool { return s.Scheduler == SchedulerExternal }

// IsDaemon reports whether the service runs one task on every node that
// may run it rather than a desired count.
func (s *Service) IsDaemon() bool { return s.SchedulingStrategy == SchedulingDaemon }

// MeantFor reports whether a daemon service should run a task on n: the
// node is ready and eligible, in the service's pool, and every constraint
// admits it. A constraint
// that does not parse admits no node.
func (s *Service) MeantFor(n *Node) bool {
	if n.Status != NodeReady || n.Eligibility != EligibilityEligible || !n.InCluster(s.Cluster) {
		return false
	}
	for _, pc := range s.PlacementConstraints {
		c, err := pc.Parse()
		if err != nil || !c.Admits(n) {
			return false
		}
	}
	return true
}

// ContainerState is what a node last saw of one container of a task.
type ContainerState struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Health   string `json:"health,omitempty"`
	ExitCode *int   `json:"exitCode,omitempty"`
	Reason   string `json:"reason,omitempty"`
	DockerID string `json:"dockerId,omitempty"`
}

// Task is one placed copy of a task definition.
type Task struct {
	ID             string `json:"id"`
	Service        string `json:"service"`
	TaskDefinition string `json:"taskDefinition"`
	Node           string `json:"node"`
	DesiredStatus  string `json:"desiredStatus"`
	LastStatus     string `json:"lastStatus"`
	CPU            int64  `json:"cpu"`
	MemoryMiB      int64  `json:"memory"`
	HostPorts      []int  `json:"hostPorts,omitempty"`
	// GPUs are the node's GPUs the task holds, by number, handed to its
	// containers in the order of the definition.
	GPUs       []int            `json:"gpus,omitempty"`
	Containers []ContainerState `json:"containers,omitempty"`
	StopReason string           `json:"stoppedReason,omitempty"`
	// Failed is set when the task stopped without being asked to.
	Failed    bool  `json:"failed,omitempty"`
	CreatedAt int64 `json:"createdAt"`
	StartedAt int64 `json:"startedAt,omitempty"`
	StoppedAt int64 `json:"stoppedAt,omitempty"`
	// PlacementNote says why the task was placed away from the node that
	// holds its service's volume data, when it was.
	PlacementNote string `json:"placementNote,omitempty"`
	// Replaces is the task this one was placed to replace when the leader
	// rebalanced its service: that task stops once this one is healthy.
	Replaces string `json:"replaces,omitempty"`
	// Cluster is the pool the task runs in: its service's, or the one a
	// one-off run named. Empty is DefaultCluster.
	Cluster string `json:"cluster,omitempty"`
}

// Unplaced reports whether the task waits for an outside scheduler to
// give it a node.
func (t *Task) Unplaced() bool { return t.Node == "" }

// Terminal reports whether the task is over: stopped, or lost with its
// node. Nothing a node reports about it changes it any more.
func (t *Task) Terminal() bool { return t.LastStatus == StatusStopped || t.LastStatus == StatusLost }

// Active reports whether the task holds resources on its node: it is not
// over yet.
func (t *Task) Active() bool { return !t.Terminal() }
