package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/docker/docker/api/types/container"
)

// ContainerStats is one sample of what a running task container uses.
// The CPU time and network bytes are counted since the container started.
type ContainerStats struct {
	TaskID     string
	Service    string
	Container  string
	CPUSeconds float64
	// MemoryBytes is the memory in use, page cache that the kernel may
	// reclaim left out, as docker stats shows it.
	MemoryBytes int64
	NetRxBytes  int64
	NetTxBytes  int64
	// Restarts is how many times the engine restarted the container.
	Restarts int
}

// StatsReader is implemented by runtimes that can sample what a node's
// running task containers use. A sample costs the engine a call or two
// per container, so callers take one only when someone asks.
type StatsReader interface {
	Stats(ctx context.Context, node string) ([]ContainerStats, error)
}

// statsParallel bounds the engine calls one Stats makes at once.
const statsParallel = 4

// Stats implements StatsReader with one-shot stats (no wait for a second
// sample) of each running task container, and an inspect for its restart
// count when that may have changed (see Docker.restarts). A container
// that stops meanwhile is left out.
func (d *Docker) Stats(ctx context.Context, node string) ([]ContainerStats, error) {
	f := taskFilter(node, "")
	f.Add("status", "running")
	list, err := d.cli.ContainerList(ctx, container.ListOptions{Filters: f})
	if err != nil {
		return nil, err
	}
	d.forgetRestarts(list)
	out := make([]*ContainerStats, len(list))
	sem := make(chan struct{}, statsParallel)
	var wg sync.WaitGroup
	for i, c := range list {
		if c.Labels[LabelTask] == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			s, err := d.containerStats(ctx, c.ID)
			if err != nil {
				return
			}
			s.TaskID, s.Service, s.Container = c.Labels[LabelTask], c.Labels[LabelService], c.Labels[LabelContainer]
			out[i] = s
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var res []ContainerStats
	for _, s := range out {
		if s != nil {
			res = append(res, *s)
		}
	}
	return res, nil
}

func (d *Docker) containerStats(ctx context.Context, id string) (*ContainerStats, error) {
	rd, err := d.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return nil, err
	}
	defer rd.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(rd.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("stats of %s: %w", shortID(id), err)
	}
	restarts, err := d.restartCount(ctx, id)
	if err != nil {
		return nil, err
	}
	s := &ContainerStats{CPUSeconds: float64(st.CPUStats.CPUUsage.TotalUsage) / 1e9, Restarts: restarts,
		MemoryBytes: int64(st.MemoryStats.Usage - reclaimable(st.MemoryStats))}
	for _, n := range st.Networks {
		s.NetRxBytes += int64(n.RxBytes)
		s.NetTxBytes += int64(n.TxBytes)
	}
	return s, nil
}

// restartCount is how many times the engine restarted a container: known
// already for one without a restart policy, inspected otherwise.
func (d *Docker) restartCount(ctx context.Context, id string) (int, error) {
	d.restartsMu.Lock()
	n, ok := d.restarts[id]
	d.restartsMu.Unlock()
	if ok {
		return n, nil
	}
	info, err := d.cli.ContainerInspect(ctx, id)
	if err != nil {
		return 0, err
	}
	if info.HostConfig != nil && info.HostConfig.RestartPolicy.IsNone() {
		d.restartsMu.Lock()
		if d.restarts == nil {
			d.restarts = map[string]int{}
		}
		d.restarts[id] = info.RestartCount
		d.restartsMu.Unlock()
	}
	return info.RestartCount, nil
}

// forgetRestarts drops the restart counts of containers that are not in
// list, the running task containers of a sample.
func (d *Docker) forgetRestarts(list []container.Summary) {
	running := make(map[string]bool, len(list))
	for _, c := range list {
		running[c.ID] = true
	}
	d.restartsMu.Lock()
	defer d.restartsMu.Unlock()
	for id := range d.restarts {
		if !running[id] {
			delete(d.restarts, id)
		}
	}
}

// reclaimable is the page cache docker stats leaves out of a container's
// memory use: inactive_file under cgroup v2, total_inactive_file under v1.
func reclaimable(m container.MemoryStats) uint64 {
	for _, k := range []string{"inactive_file", "total_inactive_file"} {
		if v, ok := m.Stats[k]; ok && v <= m.Usage {
			return v
		}
	}
	return 0
}
