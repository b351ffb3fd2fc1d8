// Package endpoints computes where a service can be reached: for every
// running task, the address of its node and the host port of each of its
// container ports, and whether the task is healthy. It is pure: it reads a
// state view and the time it is given, so that the API, the DNS server and
// the ingress proxy of every agent draw the same answer from the same
// replica.
package endpoints

import (
	"net"
	"slices"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// DefaultHealthyAfter is how long a task whose essential containers have no
// health check must run before it counts as healthy: long enough for a
// process that dies at start-up to show it. Deployments gate on the same
// rule.
const DefaultHealthyAfter = 5 * time.Second

// View is the part of a state view the endpoints are computed from; the
// replica's read view (*fsm.State) and the API's State implement it.
type View interface {
	Service(name string) *structs.Service
	TasksByService(service string) []*structs.Task
	Node(id string) *structs.Node
	TaskDefinition(ref string) *structs.TaskDefinition
}

// Endpoint is one container port of one running task.
type Endpoint struct {
	Service string `json:"service"`
	TaskID  string `json:"taskId"`
	// Node is the id of the task's node, NodeName its name and Address
	// the IP other hosts reach it on (the host of the address it
	// registered).
	Node          string `json:"node"`
	NodeName      string `json:"nodeName"`
	Address       string `json:"address"`
	ContainerName string `json:"containerName"`
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	// Protocol is the port mapping's, "tcp" when it names none.
	Protocol string `json:"protocol"`
	// Healthy is set when every essential container with a health check
	// passes it, or, when none has one, once the task has run for
	// DefaultHealthyAfter.
	Healthy bool `json:"healthy"`
}

// Of returns the endpoints of a service at now, ordered by task id and
// then by the order of the definition's port mappings; nil when the
// service is unknown or has none. Tasks that are asked to stop (a
// deployment, a drain or a scale-down is taking them away) are left out,
// as are tasks whose node is down: traffic must leave them before their
// containers get SIGTERM.
func Of(v View, service string, now time.Time) []Endpoint {
	eps, _ := Until(v, service, now)
	return eps
}

// Until is Of, and also the earliest time after now at which the passing
// of time alone would change the answer (a task without a health check
// becoming healthy); the zero time when nothing would.
func Until(v View, service string, now time.Time) ([]Endpoint, time.Time) {
	if v.Service(service) == nil {
		return nil, time.Time{}
	}
	var out []Endpoint
	var until time.Time
	for _, t := range v.TasksByService(service) {
		if !Serving(v, t) {
			continue
		}
		td := v.TaskDefinition(t.TaskDefinition)
		if td == nil {
			continue
		}
		n := v.Node(t.Node)
		healthy, at := Healthy(t, td, DefaultHealthyAfter, now)
		if !healthy && !at.IsZero() && (until.IsZero() || at.Before(until)) {
			until = at
		}
		i := 0
		for _, cd := range td.ContainerDefinitions {
			for _, pm := range cd.PortMappings {
				if i < len(t.HostPorts) {
					proto := pm.Protocol
					if proto == "" {
						proto = "tcp"
					}
					out = append(out, Endpoint{Service: service, TaskID: t.ID, Node: n.ID, NodeName: n.Name, Address: Host(n),
						ContainerName: cd.Name, ContainerPort: pm.ContainerPort, HostPort: t.HostPorts[i], Protocol: proto, Healthy: healthy})
				}
				i++
			}
		}
	}
	return out, until
}

// Host is the IP (or name) of a node's registered address, which agents
// register as host:port, the port being Raft's.
func Host(n *structs.Node) string {
	if h, _, err := net.SplitHostPort(n.Address); err == nil {
		return h
	}
	return n.Address
}

// Serving reports whether a task belongs in its service's answers at all:
// it is running, nobody has asked it to stop, and its node is known and
// not down.
func Serving(v View, t *structs.Task) bool {
	if t.DesiredStatus != structs.StatusRunning || t.LastStatus != structs.StatusRunning {
		return false
	}
	n := v.Node(t.Node)
	return n != nil && n.Status != structs.NodeDown
}

// containerRunning is the status a node reports of a running container.
const containerRunning = "running"

// Healthy reports whether a running task counts as healthy: every
// essential container with a health check reports healthy or, when none
// has one, the task has run for healthyAfter. When it is running but not
// yet healthy by time alone, at is when it will be; otherwise at is the
// zero time. A task asked to stop, or one with an essential container
// reported as anything but running (it exited, and the task is being
// stopped), is never healthy.
func Healthy(t *structs.Task, td *structs.TaskDefinition, healthyAfter time.Duration, now time.Time) (healthy bool, at time.Time) {
	if t.DesiredStatus != structs.StatusRunning || t.LastStatus != structs.StatusRunning {
		return false, time.Time{}
	}
	for _, cs := range t.Containers {
		if cd := td.Container(cs.Name); cd != nil && cd.IsEssential() && cs.Status != containerRunning {
			return false, time.Time{}
		}
	}
	if slices.ContainsFunc(td.ContainerDefinitions, func(cd structs.ContainerDefinition) bool { return cd.IsEssential() && cd.HealthCheck != nil }) {
		for i := range td.ContainerDefinitions {
			cd := &td.ContainerDefinitions[i]
			if !cd.IsEssential() {
				continue
			}
			j := slices.IndexFunc(t.Containers, func(cs structs.ContainerState) bool { return cs.Name == cd.Name })
			if j < 0 || cd.HealthCheck != nil && t.Containers[j].Health != "healthy" {
				return false, time.Time{}
			}
		}
		return true, time.Time{}
	}
	at = time.UnixMilli(t.StartedAt).Add(healthyAfter)
	if !now.Before(at) {
		return true, time.Time{}
	}
	return false, at
}
