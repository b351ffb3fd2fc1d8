package fsm

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/tidwall/btree"

	"github.com/skiff-run/skiff/structs"
)

// keepEvents is how many events the state keeps, newest last: enough for
// `skiff events` to tell what happened to a service in the last while, and
// few enough that a snapshot grows by a few hundred KiB at most.
const keepEvents = 2048

// eventKey orders events by the log index of the entry that made them,
// then by their order within it.
type eventKey struct {
	index uint64
	n     int
}

// eventEntry is an entry of tables.events.
type eventEntry struct {
	key eventKey
	obj *structs.Event
}

func byEventKey(a, b eventEntry) bool {
	if a.key.index != b.key.index {
		return a.key.index < b.key.index
	}
	return a.key.n < b.key.n
}

func newEventTree() *btree.BTreeG[eventEntry] { return newTree(byEventKey) }

// putEvent appends an event recorded at index e.Index after every event
// already kept, and drops the oldest beyond keepEvents. The entries an
// event is appended to sit on the tree's right edge, so a transaction
// clones that edge once however many events it records.
func (t *tables) putEvent(e *structs.Event) {
	k := eventKey{index: e.Index}
	if last, ok := t.events.Max(); ok && last.key.index == e.Index {
		k.n = last.key.n + 1
	}
	t.events.Set(eventEntry{k, e})
	for t.events.Len() > keepEvents {
		old, _ := t.events.PopMin()
		t.eventsLostThrough = old.key.index
	}
}

// event records that the entry being applied changed something. at is the
// time the command carries, so that every replica records the same event.
func (w *writer) event(kind string, at int64, e structs.Event) {
	e.Index, e.Time, e.Kind = w.t.at, at, kind
	e.Tags = w.eventTags(&e)
	w.t.putEvent(&e)
}

// eventTags are the tags of what e concerns, as the state holds them in
// the entry being applied. They share the objects' own slices, which the
// state never changes in place.
func (w *writer) eventTags(e *structs.Event) []structs.Tag {
	var tags []structs.Tag
	service := e.Service
	if t := w.t.task(e.Task); e.Task != "" && t != nil {
		if family, rev, err := structs.ParseTaskDefRef(t.TaskDefinition); err == nil {
			if td := w.t.taskDef(family, rev); td != nil {
				tags = td.Tags
			}
		}
		service = t.Service
	}
	if s := w.t.service(service); service != "" && s != nil {
		tags = structs.MergeTags(tags, s.Tags)
	}
	if n := w.t.node(e.Node); e.Task == "" && service == "" && n != nil {
		tags = n.Tags
	}
	return tags
}

// EventsAfter returns the events kept that entries after index recorded,
// oldest first.
func (s *State) EventsAfter(index uint64) []*structs.Event {
	var out []*structs.Event
	s.t.events.Ascend(eventEntry{key: eventKey{index: index + 1}}, func(e eventEntry) bool {
		out = append(out, e.obj)
		return true
	})
	return out
}

// EventsLostThrough is the index of the newest event the state no longer
// keeps, 0 when it has dropped none: a reader who last saw an index below
// it has missed events.
func (s *State) EventsLostThrough() uint64 { return s.t.eventsLostThrough }

// shortID is a task id as `skiff ps` shows it: its last 8 characters,
// which differ between tasks since task ids are UUIDv7.
func shortID(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

// nodeName is how events name a node: by its name when the state has it.
func (w *writer) nodeName(id string) string {
	if n := w.t.node(id); n != nil && n.Name != "" {
		return n.Name
	}
	return id
}

// taskLabel names a task and its service (or "one-off") for a message.
func taskLabel(t *structs.Task) string {
	if t.Service == "" {
		return "one-off task " + shortID(t.ID)
	}
	return "task " + shortID(t.ID) + " of " + t.Service
}

func (w *writer) taskEvent(kind string, at int64, t *structs.Task, message string) {
	w.event(kind, at, structs.Event{Service: t.Service, Task: t.ID, Node: t.Node, Message: message})
}

// taskStatusEvents records what a node's report changed of a task: its
// start, its end, and each container whose health check changed verdict.
func (w *writer) taskStatusEvents(old, t *structs.Task, at int64) {
	switch {
	case t.LastStatus == structs.StatusRunning && old.LastStatus != structs.StatusRunning:
		w.taskEvent(structs.EventTaskStarted, at, t, taskLabel(t)+" started on "+w.nodeName(t.Node))
	case t.LastStatus == structs.StatusStopped:
		how := " stopped"
		if t.Failed {
			how = " failed"
		}
		msg := taskLabel(t) + how + " on " + w.nodeName(t.Node)
		if t.StopReason != "" {
			msg += ": " + t.StopReason
		}
		w.taskEvent(structs.EventTaskStopped, at, t, msg)
		return
	}
	for _, c := range t.Containers {
		if c.Health != "healthy" && c.Health != "unhealthy" {
			continue
		}
		before := ""
		for _, o := range old.Containers {
			if o.Name == c.Name {
				before = o.Health
			}
		}
		if before == c.Health {
			continue
		}
		kind := structs.EventTaskHealthy
		if c.Health == "unhealthy" {
			kind = structs.EventTaskUnhealthy
		}
		w.taskEvent(kind, at, t, "container "+c.Name+" of "+taskLabel(t)+" is "+c.Health)
	}
}

// serviceEvent records a change to a service as a whole.
func (w *writer) serviceEvent(kind string, at int64, service, message string) {
	w.event(kind, at, structs.Event{Service: service, Message: message})
}

// outcomeEvent records a change of the scheduler's verdict on a service:
// tasks it cannot place, a different reason, or all placed again.
func (w *writer) outcomeEvent(at int64, old *structs.Service, failure *structs.PlacementFailure) {
	was, is := old.PlacementFailure.String(), failure.String()
	switch {
	case was == is:
	case failure == nil:
		w.serviceEvent(structs.EventServicePlaceable, at, old.Name, "service "+old.Name+": every task is placed again")
	default:
		w.serviceEvent(structs.EventServiceUnplaceable, at, old.Name, "service "+old.Name+": "+is)
	}
}

// deploymentEvent records a deployment's start, progress or end.
func (w *writer) deploymentEvent(d *structs.Deployment, isNew bool) {
	e := structs.Event{Service: d.Service, Deployment: d.ID}
	what := "deployment " + shortID(d.ID) + " of " + d.Service
	if d.Rollback {
		what = "rollback " + shortID(d.ID) + " of " + d.Service
	}
	kind := structs.EventDeploymentProgress
	switch {
	case d.Terminal():
		kind = structs.EventDeploymentEnded
		e.Message = what + " " + d.State
		if d.Reason != "" {
			e.Message += ": " + d.Reason
		}
	case isNew:
		kind = structs.EventDeploymentStarted
		e.Message = what + " started: " + orNone(d.From) + " -> " + d.To
	default:
		e.Message = what + ": " + strconv.Itoa(d.Healthy) + " of " + strconv.Itoa(d.Desired) + " new tasks healthy, " +
			strconv.Itoa(d.Running) + " running, " + strconv.Itoa(d.Pending) + " pending, " + strconv.Itoa(d.Failed) + " failed; " +
			strconv.Itoa(d.OldRunning) + " old still running"
	}
	w.event(kind, d.UpdatedAt, e)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// RecordEvent records an event the state's other changes do not make,
// such as a new leader's election. Its type carries IgnoreUnknownFlag:
// a replica that knows no events loses nothing it understands by skipping
// it.
type RecordEvent struct {
	Event structs.Event `json:"event"`
}

func (c *RecordEvent) validate() error {
	switch c.Event.Kind {
	case structs.EventLeaderElected:
	default:
		return fmt.Errorf("event.kind %q: only %s is recorded on its own", c.Event.Kind, structs.EventLeaderElected)
	}
	if c.Event.Message == "" {
		return errors.New("event.message: required")
	}
	return nil
}

func (w *writer) recordEvent(c *RecordEvent) (any, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	w.event(c.Event.Kind, c.Event.Time, structs.Event{Node: c.Event.Node, Message: c.Event.Message})
	return nil, nil
}
