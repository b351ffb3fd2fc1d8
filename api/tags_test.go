package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// TestTagsInFiles: a service file's tags and its definition's are kept,
// and a bad tag is refused with the field that holds it.
func TestTagsInFiles(t *testing.T) {
	svc, td, warnings, err := DecodeServiceFile([]byte(`{"service":"web","desiredCount":1,"tags":[{"key":"team","value":"ops"}],
	  "taskDefinition":{"family":"web","tags":[{"key":"app","value":"web"},{"key":"tier"}],"containerDefinitions":[{"name":"a","image":"x"}]}}`))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("%v %q", err, warnings)
	}
	if !slices.Equal(svc.Tags, []structs.Tag{{Key: "team", Value: "ops"}}) || !slices.Equal(td.Tags, []structs.Tag{{Key: "app", Value: "web"}, {Key: "tier"}}) {
		t.Fatalf("service tags %v, definition tags %v", svc.Tags, td.Tags)
	}
	// describe-task-definition's tags beside the definition join its own.
	td, _, err = DecodeTaskDefinition([]byte(`{"taskDefinition":{"family":"web","tags":[{"key":"app","value":"api"}],"containerDefinitions":[{"name":"a","image":"x"}]},
	  "tags":[{"key":"app","value":"web"},{"key":"team","value":"ops"}]}`))
	if err != nil || !slices.Equal(td.Tags, []structs.Tag{{Key: "team", Value: "ops"}, {Key: "app", Value: "api"}}) {
		t.Fatalf("described tags %v (%v): want the definition's own value for app", td.Tags, err)
	}
	def := func(tags string) string {
		return `{"service":"web","desiredCount":1,"taskDefinition":{"family":"web","tags":` + tags + `,"containerDefinitions":[{"name":"a","image":"x"}]}}`
	}
	tooMany := strings.Repeat(`{"key":"k"},`, structs.MaxTags+1)
	for _, tc := range []struct{ name, body, field, msg string }{
		{"service tag without key", `{"service":"web","desiredCount":1,"tags":[{"value":"x"}],"taskDefinition":"web"}`, "tags[0].key", "required"},
		{"definition tag key too long", def(`[{"key":"` + strings.Repeat("k", 129) + `"}]`), "taskDefinition.tags[0].key", "at most 128"},
		{"definition tag value too long", def(`[{"key":"k","value":"` + strings.Repeat("v", 257) + `"}]`), "taskDefinition.tags[0].value", "at most 256"},
		{"duplicate key", def(`[{"key":"k"},{"key":"k"}]`), "taskDefinition.tags[1].key", "duplicate"},
		{"too many", def(`[` + strings.TrimSuffix(tooMany, ",") + `]`), "taskDefinition.tags", "expected at most 50 tags"},
		{"a field tags lack", `{"service":"web","desiredCount":1,"tags":[{"key":"k","colour":"red"}],"taskDefinition":"web"}`, "tags[0].colour", "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := DecodeServiceFile([]byte(tc.body))
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Message, tc.msg) {
				t.Fatalf("got %v, want %s: %q", err, tc.field, tc.msg)
			}
		})
	}
}

// withTags tags the fake's objects: node one, service web, and the web:1
// definition, whose tasks carry its tags and web's.
func withTags(f *fakeBackend) {
	f.state.nodes[0].Tags = []structs.Tag{{Key: "zone", Value: "a"}, {Key: "ssd"}}
	f.state.nodes[1].Tags = []structs.Tag{{Key: "zone", Value: "b"}}
	f.state.services[0].Tags = []structs.Tag{{Key: "team", Value: "web"}}
	f.state.services[1].Tags = []structs.Tag{{Key: "team", Value: "db"}}
	f.state.taskdefs[0].Tags = []structs.Tag{{Key: "app", Value: "web"}, {Key: "team", Value: "platform"}}
}

// TestTagFilterRoutes: listings keep what has every tag the filters ask
// for, and a filter without a key is refused.
func TestTagFilterRoutes(t *testing.T) {
	f := newFake()
	f.state.tasks[0].TaskDefinition = "web:1"
	f.state.tasks[1].TaskDefinition = "web:1"
	withTags(f)
	srv := serve(t, f, &logBuffer{})
	for _, tc := range []struct {
		path string
		want map[string]any
	}{
		{"/v1/nodes?tag=zone=a", map[string]any{"#": 1, "0.id": "n1", "0.tags.1.key": "ssd"}},
		{"/v1/nodes?tag=zone", map[string]any{"#": 2}},
		{"/v1/nodes?tag=zone=b&tag=ssd", map[string]any{"#": 0}},
		{"/v1/services?tag=team=db", map[string]any{"#": 1, "0.name": "db", "0.tags.0.value": "db"}},
		{"/v1/services?tag=team=platform", map[string]any{"#": 0}},
		// A task has its definition's tags, with its service's winning.
		{"/v1/tasks?tag=app=web", map[string]any{"#": 2, "0.id": "aaaa1111", "1.id": "aaaa2222"}},
		{"/v1/tasks?tag=app=web&tag=team=web", map[string]any{"#": 2}},
		{"/v1/tasks?tag=team=platform", map[string]any{"#": 0}},
		{"/v1/tasks?all&tag=team=web", map[string]any{"#": 3}},
		{"/v1/tasks?tag==x", map[string]any{"field": "tag", "error": "~expected KEY=VALUE"}},
	} {
		a := send(t, srv.URL, "GET", tc.path, "", nil)
		want := 200
		if _, bad := tc.want["field"]; bad {
			want = 400
		}
		if a.status != want {
			t.Fatalf("%s: status %d, want %d\n%s", tc.path, a.status, want, a.body)
		}
		t.Run(tc.path, func(t *testing.T) { checkJSON(t, a.body, tc.want) })
	}
}

// TestClientTagFilters: the client sends each tag filter as a tag
// parameter, which the server reads back.
func TestClientTagFilters(t *testing.T) {
	f := newFake()
	withTags(f)
	srv := serve(t, f, &logBuffer{})
	c := NewClient(strings.TrimPrefix(srv.URL, "http://"), nil)
	ctx := context.Background()
	nodes, err := c.Nodes(ctx, "zone=a", "ssd")
	if err != nil || len(nodes) != 1 || nodes[0].ID != "n1" {
		t.Fatalf("nodes %v %v", nodes, err)
	}
	svcs, err := c.Services(ctx, "team=web")
	if err != nil || len(svcs) != 1 || svcs[0].Name != "web" {
		t.Fatalf("services %v %v", svcs, err)
	}
	tasks, err := c.Tasks(ctx, "web", false, "team=web")
	if err != nil || len(tasks) != 2 {
		t.Fatalf("tasks %v %v", tasks, err)
	}
	if _, err := c.Nodes(ctx, "=a"); err == nil || !strings.Contains(err.Error(), "tag") {
		t.Fatalf("a filter without a key: %v", err)
	}
	all, err := c.Nodes(ctx)
	if err != nil || len(all) != 2 {
		t.Fatal(fmt.Sprint(all, err))
	}
}

// TestEventTagFilter: GET /v1/events keeps the events with every tag the
// tag parameters ask for, beside the topics, and refuses a tag without a
// key.
func TestEventTagFilter(t *testing.T) {
	f := newFake()
	f.addEvents(structs.Event{Kind: structs.EventTaskPlaced, Service: "web", Task: "aaaa1111", Tags: []structs.Tag{{Key: "team", Value: "web"}, {Key: "app", Value: "web"}}},
		structs.Event{Kind: structs.EventTaskPlaced, Service: "db", Task: "dddd1111", Tags: []structs.Tag{{Key: "team", Value: "db"}}})
	f.addEvents(structs.Event{Kind: structs.EventNodeDown, Node: "n1", Tags: []structs.Tag{{Key: "room", Value: "attic"}}})
	srv := serve(t, f, &logBuffer{})
	cl := NewClient(srv.URL, nil)
	for _, tc := range []struct {
		tags, topics []string
		want         string
	}{
		{[]string{"team=web"}, nil, "task.placed/web"},
		{[]string{"team"}, nil, "task.placed/web task.placed/db"},
		{[]string{"team=web", "app=web"}, nil, "task.placed/web"},
		{[]string{"team=web", "app=db"}, nil, ""},
		{[]string{"room=attic"}, nil, "node.down/"},
		{[]string{"team"}, []string{"service:db"}, "task.placed/db"},
	} {
		ans, err := cl.Events(context.Background(), EventsQuery{Tags: tc.tags, Topics: tc.topics})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range ans.Events {
			got = append(got, e.Kind+"/"+e.Service)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("tags %v topics %v: %v, want %s", tc.tags, tc.topics, got, tc.want)
		}
	}
	a := send(t, srv.URL, "GET", "/v1/events?tag==x", "", nil)
	if a.status != 400 {
		t.Fatalf("a tag without a key: %d %s", a.status, a.body)
	}
	checkJSON(t, a.body, map[string]any{"field": "tag", "error": "~expected KEY=VALUE"})
}
