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

// nodeAskTimeout bounds the wait for one node's answer (its volumes, its
// usage), so that a node that does not answer costs the listing one row,
// not the whole answer.
const nodeAskTimeout = 5 * time.Second

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
	list, err := fromNode(s, r, n, "/v1/volumes", s.b.Volumes)
	if err != nil {
		return []structs.NodeVolume{{Node: n.ID, NodeName: n.Name, Error: err.Error()}}
	}
	for i := range list {
		list[i].Node, list[i].NodeName = n.ID, n.Name
	}
	return list
}

// fromNode asks node n for what lives in its engine: this agent itself
// through local, another over the agent-to-agent link with the caller's
// token, as a forwarded GET of path?node=ID that the other agent answers
// for itself. Each node gets nodeAskTimeout.
func fromNode[T any](s *server, r *http.Request, n *structs.Node, path string, local func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(r.Context(), nodeAskTimeout)
	defer cancel()
	var zero T
	switch {
	case n.ID == s.b.Health().Node:
		return local(ctx)
	case r.Header.Get(forwardedHeader) != "":
		return zero, fmt.Errorf("the request was forwarded here for node %s, which is not this agent", n.ID)
	case n.Status != structs.NodeReady:
		return zero, fmt.Errorf("the node is %s", n.Status)
	}
	var out T
	return out, s.askPeer(ctx, r, n, path, &out)
}

// askPeer makes the forwarded GET of fromNode and decodes its answer
// into out.
func (s *server) askPeer(ctx context.Context, r *http.Request, n *structs.Node, path string, out any) error {
	addr := s.b.NodeAPI(n.ID)
	if addr == "" {
		return fmt.Errorf("the node's API address is not known")
	}
	u := url.URL{Scheme: s.peerScheme, Host: addr, Path: path, RawQuery: url.Values{"node": {n.ID}}.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	for _, h := range []string{"Authorization", TokenHeader} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set(forwardedHeader, "1")
	resp, err := (&http.Client{Transport: s.peerTransport}).Do(req)
	if err != nil {
		return fmt.Errorf("the node did not answer: %v", err)
	}
	defer resp.Body.Close()
	body := http.MaxBytesReader(nil, resp.Body, MaxBodyBytes)
	if resp.StatusCode != http.StatusOK {
		var fe FieldError
		_ = json.NewDecoder(body).Decode(&fe)
		return fmt.Errorf("the node answered %s: %s", resp.Status, fe.Message)
	}
	if err := json.NewDecoder(body).Decode(out); err != nil {
		return fmt.Errorf("the node's answer: %v", err)
	}
	return nil
}
