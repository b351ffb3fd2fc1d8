package api

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"

	"github.com/skiff-run/skiff/structs"
)

// usage answers GET /v1/usage: what each node offers, reserves and uses.
// Use is sampled from each node's engine, so the agent asks every node as
// it asks for volumes: itself from its own engine, the others over the
// agent-to-agent link. With ?node= (an id, id prefix or name) only that
// node is asked. A node that cannot be asked is listed with its error and
// what the local replica says it reserves.
func (s *server) usage(w http.ResponseWriter, r *http.Request) (any, error) {
	view := s.b.View()
	if ref := r.URL.Query().Get("node"); ref != "" {
		n := view.Node(resolveNodeRef(view, ref))
		if n == nil {
			return nil, fmt.Errorf("%w: node %q", ErrNotFound, ref)
		}
		return []structs.NodeUsage{s.nodeUsage(r, view, n)}, nil
	}
	nodes := view.Nodes()
	out := make([]structs.NodeUsage, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = s.nodeUsage(r, view, n)
		}()
	}
	wg.Wait()
	sort.SliceStable(out, func(i, j int) bool { return out[i].NodeName < out[j].NodeName })
	return out, nil
}

func (s *server) nodeUsage(r *http.Request, view State, n *structs.Node) structs.NodeUsage {
	list, err := fromNode(s, r, n, "/v1/usage", func(ctx context.Context) ([]structs.NodeUsage, error) {
		u, err := s.b.Usage(ctx)
		return []structs.NodeUsage{u}, err
	})
	if err == nil && len(list) != 1 {
		err = fmt.Errorf("the node answered %d entries, want its own", len(list))
	}
	if err != nil {
		u := structs.NodeUsage{CPU: n.CPU, MemoryMiB: n.MemoryMiB, Error: err.Error()}
		for _, t := range view.TasksByNode(n.ID) {
			if t.Active() {
				u.CPUReserved += t.CPU
				u.MemoryReservedMiB += t.MemoryMiB
			}
		}
		list = []structs.NodeUsage{u}
	}
	list[0].Node, list[0].NodeName = n.ID, n.Name
	return list[0]
}
