package command

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// inspectEvents are twelve events, of which inspect shows the newest ten.
func inspectEvents() string {
	var evs []string
	for i := 1; i <= 12; i++ {
		evs = append(evs, fmt.Sprintf(`{"index":%d,"time":%d,"kind":"task.started","service":"web","task":"f00dfeed-1111-4111-8111-111111111111","message":"event %d"}`,
			100+i, 1767322955000+int64(i)*1000, i))
	}
	return `{"index":112,"events":[` + strings.Join(evs, ",") + `]}`
}

// inspectAPI answers what inspect asks: the canned cluster of the
// listings, one task, one service and the events.
func inspectAPI(t *testing.T) *fakeAPI {
	return newFakeAPI(t, map[string]answer{
		"GET /v1/events":   ok(inspectEvents()),
		"GET /v1/nodes":    ok(nodesJSON),
		"GET /v1/tasks":    ok(tasksJSON),
		"GET /v1/taskdefs": ok(taskdefsJSON),
		"GET /v1/tasks/1111": ok(`{"id":"f00dfeed-1111-4111-8111-111111111111","service":"web","taskDefinition":"web:1","node":"a1b2c3d4-0000-4000-8000-000000000001",
		  "desiredStatus":"RUNNING","lastStatus":"RUNNING","cpu":64,"memory":32,"hostPorts":[20000],"containers":[{"name":"app","status":"running"}],"createdAt":1767322955000}`),
		"GET /v1/services/web": ok(`{"name":"web","taskDefinition":"web:1","desiredCount":3,"createdAt":1767315661000,"updatedAt":1767315661000,"runningCount":1,"pendingCount":1,
		  "placementFailure":{"count":1,"taskDefinition":"web:1","cpu":64,"memory":32,"nodes":2,"reasons":[{"kind":"memory","nodes":2,"need":32,"mostFree":16}]},
		  "message":"1 task of web:1 could not be placed: 2 nodes lack memory"}`),
	})
}

func TestInspectTask(t *testing.T) {
	f := inspectAPI(t)
	r := skiffAt(f, "inspect", "task", "1111")
	wantOK(t, r)
	golden(t, "inspect-task", r.stdout)
	if got, want := f.got(), []string{"GET /v1/tasks/1111", "GET /v1/taskdefs", "GET /v1/nodes", "GET /v1/services/web",
		"GET /v1/events?since=0&topic=task%3Af00dfeed-1111-4111-8111-111111111111&wait=0s"}; !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}

	r = skiffAt(f, "inspect", "task", "--json", "1111")
	wantOK(t, r)
	var d TaskDetail
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatal(err)
	}
	if d.Task.ID != "f00dfeed-1111-4111-8111-111111111111" || d.TaskDefinition.Ref() != "web:1" || d.Node.Name != "pi-1" ||
		d.Placement != "1 task of web:1 could not be placed: 2 nodes lack memory" || d.PlacementFailure.Count != 1 ||
		len(d.Events) != 10 || d.Events[0].Message != "event 3" || d.Events[9].Message != "event 12" {
		t.Errorf("--json printed %s", r.stdout)
	}

	r = skiffAt(f, "inspect", "task", "--json", "--events", "0", "1111")
	wantOK(t, r)
	if strings.Contains(f.last(t).uri, "events") || !strings.Contains(r.stdout, `"events": []`) {
		t.Errorf("--events 0 asked %s and printed %s", f.last(t).uri, r.stdout)
	}
}

func TestInspectService(t *testing.T) {
	f := inspectAPI(t)
	r := skiffAt(f, "inspect", "service", "web")
	wantOK(t, r)
	golden(t, "inspect-service", r.stdout)
	if got, want := f.got(), []string{"GET /v1/services/web", "GET /v1/taskdefs", "GET /v1/tasks?all=1&service=web",
		"GET /v1/events?since=0&topic=service%3Aweb&wait=0s"}; !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
}

func TestInspectNode(t *testing.T) {
	f := inspectAPI(t)
	for _, ref := range []string{"pi-1", "a1b2c3d4", "a1b2c3d4-0000-4000-8000-000000000001"} {
		r := skiffAt(f, "inspect", "node", "--json", ref)
		wantOK(t, r)
		var d NodeDetail
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
			t.Fatal(err)
		}
		if d.Node.Name != "pi-1" || len(d.Tasks) != 2 {
			t.Errorf("%s: --json printed %s", ref, r.stdout)
		}
	}
	r := skiffAt(f, "inspect", "node", "pi-1")
	wantOK(t, r)
	golden(t, "inspect-node", r.stdout)
}

func TestInspectRefusals(t *testing.T) {
	f := inspectAPI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"node", "pi-9"}, "skiff: node pi-9: not found\n"},
		{[]string{"node"}, "skiff: node takes 1 argument(s): NODE\n"},
		{[]string{"task", "zzzz"}, "skiff: the fake API has no answer for GET /v1/tasks/zzzz\n"},
		{[]string{"service", "--events", "-1", "web"}, "skiff: --events -1: expected 0 or more\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := skiffAt(f, append([]string{"inspect"}, tc.args...)...)
			if r.code != 1 || r.stderr != tc.want {
				t.Errorf("exit code %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}
