package api

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// EventsAnswer is the answer of GET /v1/events to a client that does not
// ask for Server-Sent Events. Index is where the next call's since should
// start: every event up to it that the filter admits is in Events, or was
// dropped when Missed is set.
type EventsAnswer struct {
	Index  uint64           `json:"index"`
	Events []*structs.Event `json:"events"`
	// Missed is set when the state no longer keeps some of the events
	// after since: the caller fell behind the ring of recent events.
	Missed bool `json:"missed,omitempty"`
}

// Long-poll bounds of GET /v1/events: the wait when the client names none,
// and the longest it may ask for.
const (
	DefaultEventsWait = 5 * time.Minute
	MaxEventsWait     = 10 * time.Minute
)

// sseKeepAlive is how often an idle event stream gets a comment line, so
// that the proxies between agent and client do not close it and the
// client notices a dead connection.
const sseKeepAlive = 15 * time.Second

// eventFilter admits an event when, for each topic name the request
// gives, the event's object of that name is one of the values asked for
// ("*" admits any event that has one).
type eventFilter map[string][]string

// parseEventFilter reads the topic parameters: "service:web",
// "node:pi-1", "task:ID", "deployment:ID" or "kind:task.stopped". A node
// is named by id, unique id prefix or name, and resolved against st; a
// task by id, or by a prefix or suffix of it, as ps shows them.
func parseEventFilter(st State, topics []string) (eventFilter, error) {
	f := eventFilter{}
	for _, t := range topics {
		name, value, ok := strings.Cut(t, ":")
		if !ok || value == "" || !slices.Contains(structs.EventTopics, name) {
			return nil, fieldErr("topic", "%q: expected NAME:VALUE with NAME one of %s (for example service:web)", t, strings.Join(structs.EventTopics, ", "))
		}
		if name == "node" && value != "*" {
			value = resolveNodeRef(st, value)
		}
		f[name] = append(f[name], value)
	}
	return f, nil
}

// resolveNodeRef returns the id of the node ref names, or ref itself when
// no single node of st matches: events outlive the nodes they name.
func resolveNodeRef(st State, ref string) string {
	if st.Node(ref) != nil {
		return ref
	}
	found := ""
	for _, n := range st.Nodes() {
		if n.Name == ref || (len(ref) >= 4 && strings.HasPrefix(n.ID, ref)) {
			if found != "" {
				return ref
			}
			found = n.ID
		}
	}
	if found == "" {
		return ref
	}
	return found
}

// tagTopic is the key of eventFilter under which the request's tag
// parameters (KEY=VALUE or KEY, checked when parsed) are kept. Unlike a
// topic's values, which are alternatives, an event must have every tag.
const tagTopic = "tag"

func (f eventFilter) admits(e *structs.Event) bool {
	for name, values := range f {
		if name == tagTopic {
			for _, v := range values {
				tf, _ := structs.ParseTagFilter(v)
				if !structs.MatchTags(e.Tags, []structs.TagFilter{tf}) {
					return false
				}
			}
			continue
		}
		have := e.Concerns(name)
		if have == "" {
			return false
		}
		ok := false
		for _, v := range values {
			if v == "*" || v == have || name == "task" && len(v) >= 4 && (strings.HasPrefix(have, v) || strings.HasSuffix(have, v)) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// eventsAfter returns the events of st after since that f admits, and
// whether some after since are no longer kept.
func eventsAfter(st State, since uint64, f eventFilter) (out []*structs.Event, missed bool) {
	for _, e := range st.EventsAfter(since) {
		if f.admits(e) {
			out = append(out, e)
		}
	}
	return out, since < st.EventsLostThrough()
}

// eventsQuery is a parsed GET /v1/events request.
type eventsQuery struct {
	since    uint64
	hasSince bool
	filter   eventFilter
	wait     time.Duration
}

func parseEventsQuery(st State, r *http.Request) (eventsQuery, error) {
	q := r.URL.Query()
	var out eventsQuery
	since := q.Get("since")
	if since == "" {
		// A reconnecting EventSource says where it stopped.
		since = r.Header.Get("Last-Event-ID")
	}
	if since != "" {
		n, err := strconv.ParseUint(since, 10, 64)
		if err != nil {
			return out, fieldErr("since", "%q: expected a log index (a whole number of 0 or more)", since)
		}
		out.since, out.hasSince = n, true
	}
	out.wait = DefaultEventsWait
	if w := q.Get("wait"); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil || d < 0 || d > MaxEventsWait {
			return out, fieldErr("wait", "%q: expected a duration from 0s to %v", w, MaxEventsWait)
		}
		out.wait = d
	}
	f, err := parseEventFilter(st, q["topic"])
	if err != nil {
		return out, err
	}
	for _, v := range q["tag"] {
		if _, err := structs.ParseTagFilter(v); err != nil {
			return out, fieldErr("tag", "%v", err)
		}
		f[tagTopic] = append(f[tagTopic], v)
	}
	out.filter = f
	return out, nil
}

// wantsEventStream tells whether the client accepts text/event-stream.
func wantsEventStream(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/event-stream" {
			return true
		}
	}
	return false
}

// events serves GET /v1/events from the local replica: every agent
// records the same events from the same log, so any one will do. Without
// since it answers at once with every event kept; with since it waits
// until an event after since passes the filter, or the wait ends. A
// client that accepts text/event-stream gets the events kept after since
// (every one without since) and then each new one as it is applied, until
// it hangs up.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	q, err := parseEventsQuery(s.b.View(), r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	if wantsEventStream(r) {
		s.streamEvents(w, r, q)
		return
	}
	var timeout <-chan time.Time
	if q.hasSince {
		t := time.NewTimer(q.wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		// The channel is taken before the view, so that an entry applied
		// between the two still wakes this loop.
		changed := s.b.Changed()
		st := s.b.View()
		evs, missed := eventsAfter(st, q.since, q.filter)
		missed = missed && q.hasSince
		if len(evs) > 0 || missed || timeout == nil {
			s.writeJSON(w, r, http.StatusOK, EventsAnswer{Index: st.Index(), Events: nonNil(evs), Missed: missed})
			return
		}
		q.since = st.Index()
		select {
		case <-changed:
		case <-timeout:
			s.writeJSON(w, r, http.StatusOK, EventsAnswer{Index: st.Index(), Events: []*structs.Event{}})
			return
		case <-r.Context().Done():
			return
		}
	}
}

// streamEvents writes events as Server-Sent Events: one "data:" line of
// an event's JSON each, and an "id:" of its index after the last event of
// each index, so that a client that reconnects with Last-Event-ID resumes
// after the last index it had whole. Events the client missed because the
// ring dropped them are announced by an event of type "missed" whose data
// is {"lostThrough": INDEX}.
func (s *server) streamEvents(w http.ResponseWriter, r *http.Request, q eventsQuery) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeErr(w, r, fmt.Errorf("this connection cannot stream events"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	keepAlive := time.NewTicker(sseKeepAlive)
	defer keepAlive.Stop()
	for {
		changed := s.b.Changed()
		st := s.b.View()
		evs, missed := eventsAfter(st, q.since, q.filter)
		var buf strings.Builder
		if missed && q.hasSince {
			fmt.Fprintf(&buf, "event: missed\ndata: {\"lostThrough\":%d}\n\n", st.EventsLostThrough())
		}
		for i, e := range evs {
			raw, err := json.Marshal(e)
			if err != nil {
				s.log.Error("encode event", "index", e.Index, "err", err)
				return
			}
			buf.WriteString("data: ")
			buf.Write(raw)
			buf.WriteByte('\n')
			if i == len(evs)-1 || evs[i+1].Index != e.Index {
				fmt.Fprintf(&buf, "id: %d\n", e.Index)
			}
			buf.WriteByte('\n')
		}
		q.since, q.hasSince = st.Index(), true
		if buf.Len() > 0 {
			if _, err := w.Write([]byte(buf.String())); err != nil {
				return
			}
			flusher.Flush()
		}
		select {
		case <-changed:
		case <-keepAlive.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			flusher.Flush()
		case <-r.Context().Done():
			return
		}
	}
}
