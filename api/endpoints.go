package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/skiff-run/skiff/endpoints"
)

// Endpoints is the answer of GET /v1/services/{name}/endpoints.
type Endpoints struct {
	// Index is the log index of the last change that could have changed
	// the endpoints; a query with ?index=Index waits for the next one.
	Index uint64 `json:"index"`
	// Hash digests the endpoints; a query with ?hash=Hash waits until
	// they differ. Health can change with time alone, under the same
	// index, and only the hash tells a watcher that it missed that.
	Hash      string               `json:"hash"`
	Endpoints []endpoints.Endpoint `json:"endpoints"`
}

// hashOf digests a list of endpoints.
func hashOf(eps []endpoints.Endpoint) string {
	raw, _ := json.Marshal(eps)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

// serviceIndex is the index of the last entry that could have changed a
// service's endpoints or its pending tasks: one that changed the service, one of its tasks, or
// a node.
func serviceIndex(st State, name string) uint64 {
	ci, ok := st.(changeIndexes)
	if !ok {
		return st.Index()
	}
	return max(ci.ServiceChangedAt(name), ci.NodesChangedAt(), 1)
}

// endpointsOf answers with a service's endpoints. With ?index=N or
// ?hash=H it is a blocking query: it answers once the endpoints' index
// passes N, once their hash differs from H, once the passing of time alone
// changes them (a task outlives the health grace period), or when ?wait
// (DefaultWait, at most MaxWait) runs out, whichever comes first. An
// unknown service is not found, except to a blocking query, which sees it
// as a service without endpoints until it appears.
func (s *server) endpointsOf(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("name")
	q := r.URL.Query()
	var index uint64
	if v := q.Get("index"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fieldErr("index", "%q: expected a log index, a whole number of 0 or more", v)
		}
		index = n
	}
	hash := q.Get("hash")
	wait := DefaultWait
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fieldErr("wait", "%q: expected a duration such as 30s", v)
		}
		wait = min(d, MaxWait)
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		// The watch is taken before the view, so that a change between
		// the two wakes the wait below.
		changed := s.b.Changed()
		st := s.b.View()
		blocking := index > 0 || hash != ""
		if st.Service(name) == nil && !blocking {
			// A blocking query, though, waits for a service that is not there
			// yet, or sees it go, as a service without endpoints.
			return nil, fmt.Errorf("service %s: %w", name, ErrNotFound)
		}
		at := serviceIndex(st, name)
		eps, until := endpoints.Until(st, name, time.Now())
		answer := Endpoints{Index: at, Hash: hashOf(nonNil(eps)), Endpoints: nonNil(eps)}
		if !blocking || index > 0 && at > index || hash != "" && answer.Hash != hash {
			w.Header().Set(IndexHeader, strconv.FormatUint(at, 10))
			return answer, nil
		}
		switch waitForChange(r.Context(), changed, until, deadline.C) {
		case changeCanceled:
			return nil, r.Context().Err()
		case changeByTime:
			// Health changed with time alone: the next pass answers
			// with it under the same index.
			index, hash = 0, ""
		case changeTimedOut:
			w.Header().Set(IndexHeader, strconv.FormatUint(at, 10))
			return answer, nil
		}
	}
}

// What ended a blocking query's wait.
const (
	changeInState = iota
	changeByTime
	changeTimedOut
	changeCanceled
)

// waitForChange waits until the state changes, until (when not zero)
// passes, the deadline fires or ctx ends.
func waitForChange(ctx context.Context, changed <-chan struct{}, until time.Time, deadline <-chan time.Time) int {
	var byTime <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		byTime = t.C
	}
	select {
	case <-ctx.Done():
		return changeCanceled
	case <-changed:
		return changeInState
	case <-byTime:
		return changeByTime
	case <-deadline:
		return changeTimedOut
	}
}

// Endpoints returns a service's endpoints. Given an earlier answer it is
// a blocking query: the agent answers once the endpoints may have changed
// since that answer, or after wait (0 for the agent's DefaultWait). The
// call's bound is the client's Timeout on top of the wait.
func (c *Client) Endpoints(ctx context.Context, service string, since *Endpoints, wait time.Duration) (Endpoints, error) {
	q := url.Values{}
	bounded := *c
	if since != nil {
		q.Set("index", strconv.FormatUint(since.Index, 10))
		q.Set("hash", since.Hash)
		if wait > 0 {
			q.Set("wait", wait.String())
		} else {
			wait = DefaultWait
		}
		if c.Timeout > 0 {
			bounded.Timeout = c.Timeout + min(wait, MaxWait)
		}
	}
	path := "/v1/services/" + url.PathEscape(service) + "/endpoints"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out Endpoints
	return out, bounded.do(ctx, http.MethodGet, path, nil, &out)
}
