package agent

import (
	"context"
	"sync"
	"time"

	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// minUsageInterval is how often, at most, the agent asks its engine for
// its containers' stats: a scrape or a `skiff top` that comes sooner gets
// the last sample. Nothing samples while nobody asks, so an idle agent
// spends nothing on it.
const minUsageInterval = 2 * time.Second

// usageSampler samples what this node's task containers use, when asked.
// It is safe for concurrent use: mu serializes samples, so that callers
// arriving together share one.
type usageSampler struct {
	stats runtime.StatsReader // nil when the runtime cannot say
	node  string

	mu sync.Mutex
	// last is the newest sample, which the next one's CPU percentages
	// are measured against.
	last *usageSample
}

type usageSample struct {
	at    time.Time
	stats []runtime.ContainerStats
	// usage is what the sample reports, computed once.
	usage []structs.ContainerUsage
}

// sample returns this node's container usage, sampling the engine when the
// last sample is older than minUsageInterval.
func (u *usageSampler) sample(ctx context.Context) (time.Time, []structs.ContainerUsage, error) {
	if u.stats == nil {
		return time.Time{}, nil, nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.last != nil && time.Since(u.last.at) < minUsageInterval {
		return u.last.at, u.last.usage, nil
	}
	stats, err := u.stats.Stats(ctx, u.node)
	if err != nil {
		return time.Time{}, nil, err
	}
	s := &usageSample{at: time.Now(), stats: stats}
	s.usage = containerUsage(u.last, s)
	u.last = s
	return s.at, s.usage, nil
}

// containerUsage turns a sample into usage, with each container's CPU
// percentage over the time since prev (nil for none).
func containerUsage(prev, s *usageSample) []structs.ContainerUsage {
	type key struct{ task, container string }
	before := map[key]float64{}
	if prev != nil {
		for _, c := range prev.stats {
			before[key{c.TaskID, c.Container}] = c.CPUSeconds
		}
	}
	out := make([]structs.ContainerUsage, 0, len(s.stats))
	for _, c := range s.stats {
		cu := structs.ContainerUsage{Task: c.TaskID, Service: c.Service, Container: c.Container, CPUSeconds: c.CPUSeconds,
			MemoryBytes: c.MemoryBytes, NetRxBytes: c.NetRxBytes, NetTxBytes: c.NetTxBytes, Restarts: c.Restarts}
		if b, ok := before[key{c.TaskID, c.Container}]; ok && c.CPUSeconds >= b {
			if dt := s.at.Sub(prev.at).Seconds(); dt > 0 {
				cu.CPUPercent = (c.CPUSeconds - b) / dt * 100
			}
		}
		out = append(out, cu)
	}
	return out
}

// Usage implements api.Backend: this node's offer, its active tasks'
// reservations from the local replica, and its containers' use from the
// engine.
func (a *Agent) Usage(ctx context.Context) (structs.NodeUsage, error) {
	out := nodeReservations(a.fsm.State().Node(a.id), a.fsm.State().TasksByNode(a.id))
	out.Node = a.id
	at, cs, err := a.usage.sample(ctx)
	if err != nil {
		return out, err
	}
	if !at.IsZero() {
		out.SampledAt = at.UnixMilli()
	}
	out.Containers = cs
	for _, c := range cs {
		out.CPUUsed += c.CPUPercent / 100 * 1024
		out.MemoryUsedBytes += c.MemoryBytes
	}
	return out, nil
}

// nodeReservations is a node's offer (n may be nil, for a node not yet
// registered) and what its active tasks reserve of it.
func nodeReservations(n *structs.Node, tasks []*structs.Task) structs.NodeUsage {
	var out structs.NodeUsage
	if n != nil {
		out.Node, out.NodeName, out.CPU, out.MemoryMiB = n.ID, n.Name, n.CPU, n.MemoryMiB
	}
	for _, t := range tasks {
		if t.Active() {
			out.CPUReserved += t.CPU
			out.MemoryReservedMiB += t.MemoryMiB
		}
	}
	return out
}
