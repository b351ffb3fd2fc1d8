package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// nodeVolumesTimeout bounds the wait for one node's list of volumes, so
// that a node that does not answer costs the listing one row, not the
// whole answer.
const nodeVolumesTimeout = 5 * time.Second

// volumes answers GET /v1/volumes. Volumes live in each node's engine,
// not in the state, so that a shared volume is listed as long as it
// exists, after its tasks and even its service are gone, and can be
// cleaned up: the agent asks every node, itself from its own engine and
// the others over the agent-to-agent link, as logs are fetched. With
// ?node=ID only that node is asked. A node that cannot be asked is listed
// as one entry with its error.
func (s *server) volumes(w http.ResponseWriter, r *http.Request) (any, error) {
	view := s.b.View()
	if id := r.URL.Query().Get("node"); id != "" {
		n := view.Node(id)
		if n == nil {
			return nil, fmt.Errorf("%w: node %q", ErrNotFound, id)
		}
		return nonNil(s.nodeVolumes(r, n)), nil
	}
	nodes := view.Nodes()
	lists := make([][]structs.NodeVolume, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lists[i] = s.nodeVolumes(r, n)
		}()
	}
	wg.Wait()
	out := []structs.NodeVolume{}
	for _, l := range lists {
		out = append(out, l...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].NodeName != out[j].NodeName {
			return out[i].NodeName < out[j].NodeName
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// nodeVolumes lists one node's volumes, or a single entry that says why
// they could not be listed.
func (s *server) nodeVolumes(r *http.Request, n *structs.Node) []structs.NodeVolume {
	ctx, cancel := context.WithTimeout(r.Context(), nodeVolumesTimeout)
	defer cancel()
	var list []structs.NodeVolume
	var err error
	switch {
	case n.ID == s.b.Health().Node:
		list, err = s.b.Volumes(ctx)
	case r.Header.Get(forwardedHeader) != "":
		err = fmt.Errorf("the request was forwarded here for node %s, which is not this agent", n.ID)
	case n.Status != structs.NodeReady:
		err = fmt.Errorf("the node is %s", n.Status)
	default:
		list, err = s.peerVolumes(ctx, r, n)
	}
	if err != nil {
		return []structs.NodeVolume{{Node: n.ID, NodeName: n.Name, Error: err.Error()}}
	}
	for i := range list {
		list[i].Node, list[i].NodeName = n.ID, n.Name
	}
	return list
}

// peerVolumes asks another agent for its node's volumes, with the
// caller's token, as a forwarded request.
func (s *server) peerVolumes(ctx context.Context, r *http.Request, n *structs.Node) ([]structs.NodeVolume, error) {
	addr := s.b.NodeAPI(n.ID)
	if addr == "" {
		return nil, fmt.Errorf("the node's API address is not known")
	}
	u := url.URL{Scheme: s.peerScheme, Host: addr, Path: "/v1/volumes", RawQuery: url.Values{"node": {n.ID}}.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for _, h := range []string{"Authorization", TokenHeader} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set(forwardedHeader, "1")
	resp, err := (&http.Client{Transport: s.peerTransport}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("the node did not answer: %v", err)
	}
	defer resp.Body.Close()
	body := http.MaxBytesReader(nil, resp.Body, MaxBodyBytes)
	if resp.StatusCode != http.StatusOK {
		var fe FieldError
		_ = json.NewDecoder(body).Decode(&fe)
		return nil, fmt.Errorf("the node answered %s: %s", resp.Status, fe.Message)
	}
	var list []structs.NodeVolume
	if err := json.NewDecoder(body).Decode(&list); err != nil {
		return nil, fmt.Errorf("the node's answer: %v", err)
	}
	return list, nil
}
