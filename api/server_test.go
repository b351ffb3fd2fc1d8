package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// answer is an HTTP answer as a test reads it.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// send makes a real HTTP request to base and reads the whole answer.
func send(t *testing.T, base, method, path, body string, header http.Header) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	// Writes are JSON, as the client sends them, unless the test says
	// otherwise.
	if method != http.MethodGet && method != http.MethodHead {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: raw}
}

// serve starts the API over f on a test server.
func serve(t *testing.T, f *fakeBackend, logs *logBuffer) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewHandler(f, logs.logger(), Options{}))
	t.Cleanup(srv.Close)
	return srv
}

// lookup walks decoded JSON along a dotted path: object keys, list
// indexes, and "#" for a list's length.
func lookup(v any, path string) (any, error) {
	if path == "" {
		return v, nil
	}
	for _, seg := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return nil, fmt.Errorf("no %q in %v", seg, x)
			}
		case []any:
			if seg == "#" {
				v = float64(len(x))
				continue
			}
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("no item %q in a list of %d", seg, len(x))
			}
			v = x[i]
		default:
			return nil, fmt.Errorf("cannot take %q of %v", seg, v)
		}
	}
	return v, nil
}

// checkJSON checks a JSON body against want: path to value, where a
// string starting with "~" need only be contained in the value and
// absent means the path must not exist.
func checkJSON(t *testing.T, raw []byte, want map[string]any) {
	t.Helper()
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, raw)
	}
	for path, w := range want {
		got, err := lookup(doc, path)
		if w == absent {
			if err == nil {
				t.Errorf("%s: want it absent, got %v", path, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v\n%s", path, err, raw)
			continue
		}
		if s, ok := w.(string); ok && strings.HasPrefix(s, "~") {
			if gs, _ := got.(string); !strings.Contains(gs, s[1:]) {
				t.Errorf("%s: got %v, want it to contain %q", path, got, s[1:])
			}
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s: got %v, want %v\n%s", path, got, w, raw)
		}
	}
}

// absent marks a path that must not be in an answer.
var absent = &struct{ absent bool }{}

const runBody = `{"taskDefinition": {"family": "one", "containerDefinitions": [{"name": "a", "image": "x"}]}}`

// apiCase is one request to the API and what must follow from it.
type apiCase struct {
	name         string
	setup        func(f *fakeBackend)
	method, path string
	body         string
	status       int
	want         map[string]any
	// calls are the backend calls the request must make, in order.
	calls []string
	// logged must appear in one line of the agent's log.
	logged []string
}

func withDeployments(f *fakeBackend) {
	f.state.services[0].Deployments = []structs.Deployment{
		{ID: "d1", Service: "web", From: "web:0", To: "web:1", State: structs.DeploymentCompleted, CreatedAt: 1},
		{ID: "d2", Service: "web", From: "web:1", To: "web:2", State: structs.DeploymentInProgress, Healthy: 1, CreatedAt: 3}}
	f.state.services[1].Deployments = []structs.Deployment{{ID: "d3", Service: "db", From: "db:1", To: "db:2", State: structs.DeploymentFailed, CreatedAt: 5}}
}

func TestRoutes(t *testing.T) {
	errBoom := errors.New("boom")
	fail := func(method string, err error) func(f *fakeBackend) {
		return func(f *fakeBackend) { f.errs[method] = err }
	}
	tooLarge := `{"service": "` + strings.Repeat("a", MaxBodyBytes) + `"}`
	tooLargeWant := map[string]any{"field": "body", "error": fmt.Sprintf("larger than %d bytes", MaxBodyBytes)}
	cases := []apiCase{
		{name: "health", method: "GET", path: "/v1/health", status: 200,
			want: map[string]any{"status": "ok", "node": "n1", "isLeader": true, "index": 7, "version": "test"}},
		{name: "nodes", method: "GET", path: "/v1/nodes", status: 200,
			want: map[string]any{"#": 2, "0.id": "n1", "1.eligibility": "eligible"}},
		{name: "no nodes is an empty list", setup: func(f *fakeBackend) { f.state.nodes = nil },
			method: "GET", path: "/v1/nodes", status: 200, want: map[string]any{"#": 0}},
		{name: "taskdefs", method: "GET", path: "/v1/taskdefs", status: 200,
			want: map[string]any{"#": 1, "0.family": "web", "0.revision": 1}},
		{name: "services with counts and message", method: "GET", path: "/v1/services", status: 200,
			want: map[string]any{"#": 2, "0.name": "web", "0.runningCount": 1, "0.pendingCount": 1,
				"0.message":                "unable to place 1 task(s): 0 of 2 nodes can run web:1 (cpu 64, memory 512 MiB): 2 nodes lack memory (need 512 MiB, most free 256 MiB)",
				"0.placementFailure.count": 1,
				"1.name":                   "db",
				"1.runningCount":           0,
				"1.message":                absent,
				"1.placementFailure":       absent}},
		{name: "service", method: "GET", path: "/v1/services/web", status: 200,
			want: map[string]any{"name": "web", "desiredCount": 3, "runningCount": 1, "pendingCount": 1, "message": "~2 nodes lack memory"}},
		{name: "deployments newest first", setup: withDeployments, method: "GET", path: "/v1/deployments", status: 200,
			want: map[string]any{"#": 3, "0.id": "d3", "0.service": "db", "1.id": "d2", "1.state": "IN_PROGRESS", "1.healthy": 1, "2.id": "d1"}},
		{name: "deployments of a service", setup: withDeployments, method: "GET", path: "/v1/deployments?service=web", status: 200,
			want: map[string]any{"#": 2, "0.id": "d2", "1.id": "d1", "1.state": "COMPLETED"}},
		{name: "deployments of no service", method: "GET", path: "/v1/deployments?service=nope", status: 404,
			want: map[string]any{"error": "service nope: not found"}},
		{name: "rollback", method: "POST", path: "/v1/services/web/rollback", body: `{"taskDefinition":"web:1"}`, status: 200,
			want: map[string]any{"name": "web"}, calls: []string{"SetServiceRevision web web:1 false"}},
		{name: "rollback needs a revision", method: "POST", path: "/v1/services/web/rollback", body: `{}`, status: 400,
			want: map[string]any{"field": "taskDefinition"}},
		{name: "restart", method: "POST", path: "/v1/services/web/restart", status: 200,
			want: map[string]any{"name": "web"}, calls: []string{"SetServiceRevision web  true"}},
		{name: "service not found", method: "GET", path: "/v1/services/nope", status: 404,
			want: map[string]any{"field": "", "error": "service nope: not found"}},

		{name: "apply by registered family", method: "PUT", path: "/v1/services/web", body: `{"serviceName":"web","desiredCount":2,"taskDefinition":"web"}`,
			status: 200, want: map[string]any{"service.taskDefinition": "web"}, calls: []string{"ApplyService web 2 web"}},
		{name: "apply by registered revision", method: "PUT", path: "/v1/services/web", body: `{"serviceName":"web","desiredCount":2,"taskDefinition":"web:1"}`,
			status: 200, want: map[string]any{"service.taskDefinition": "web:1"}, calls: []string{"ApplyService web 2 web:1"}},
		{name: "apply by unregistered revision", method: "PUT", path: "/v1/services/web", body: `{"serviceName":"web","desiredCount":2,"taskDefinition":"web:9"}`,
			status: 400, want: map[string]any{"field": "taskDefinition", "error": "~is not a registered task definition"}},
		{name: "apply by unregistered family", method: "PUT", path: "/v1/services/db", body: `{"serviceName":"db","desiredCount":2,"taskDefinition":"db"}`,
			status: 400, want: map[string]any{"field": "taskDefinition", "error": "~skiff taskdefs register"}},
		{name: "register a definition", method: "POST", path: "/v1/taskdefs", body: `{"family":"job","containerDefinitions":[{"name":"a","image":"x"}]}`,
			status: 200, want: map[string]any{"taskDefinition.family": "job", "taskDefinition.revision": 2, "warnings": absent},
			calls: []string{"RegisterTaskDefinition job 1"}},
		{name: "register a described definition", method: "POST", path: "/v1/taskdefs",
			body:   `{"taskDefinition":{"family":"job","revision":4,"status":"ACTIVE","containerDefinitions":[{"name":"a","image":"x"}]},"tags":[{"key":"team","value":"ops"}]}`,
			status: 200, want: map[string]any{"taskDefinition.family": "job", "taskDefinition.tags.0.key": "team", "warnings.#": 2, "warnings.0": "~taskDefinition."},
			calls: []string{"RegisterTaskDefinition job 1"}},
		{name: "register a bad definition", method: "POST", path: "/v1/taskdefs", body: `{"family":"job","containerDefinitions":[{"name":"a"}]}`,
			status: 400, want: map[string]any{"field": "containerDefinitions[0].image"}},
		{name: "apply", method: "PUT", path: "/v1/services/web", body: goodFile, status: 200,
			want:  map[string]any{"service.name": "web", "service.taskDefinition": "web:1", "service.desiredCount": 3, "warnings": absent},
			calls: []string{"ApplyService web 3 web"}},
		{name: "apply with ignored ECS fields warns", method: "PUT", path: "/v1/services/web",
			body:   `{"service":"web","desiredCount":1,"launchType":"EC2","taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"x"}]}}`,
			status: 200, want: map[string]any{"warnings.#": 1, "warnings.0": "~launchType is an ECS field"},
			calls: []string{"ApplyService web 1 web"}},
		{name: "apply bad file", method: "PUT", path: "/v1/services/web", body: `{"service":"web"}`, status: 400,
			want: map[string]any{"field": "desiredCount", "error": "~required"}},
		{name: "apply malformed", method: "PUT", path: "/v1/services/web", body: `{"service":`, status: 400,
			want: map[string]any{"field": "body", "error": "~malformed JSON"}},
		{name: "apply name mismatch", method: "PUT", path: "/v1/services/api", body: goodFile, status: 400,
			want: map[string]any{"field": "service", "error": `"web" differs from the name in the path, "api"`}},
		{name: "apply too large", method: "PUT", path: "/v1/services/web", body: tooLarge, status: 413, want: tooLargeWant},
		{name: "apply without leader", setup: fail("ApplyService", fmt.Errorf("%w: lost the lead", ErrUnavailable)),
			method: "PUT", path: "/v1/services/web", body: goodFile, status: 503,
			want: map[string]any{"field": "", "error": "no leader is available: lost the lead"}, calls: []string{"ApplyService web 3 web"},
			logged: []string{"request failed", "PUT", "lost the lead"}},
		{name: "apply of a missing definition", setup: fail("ApplyService", fmt.Errorf("task definition web:9: %w", ErrNotFound)),
			method: "PUT", path: "/v1/services/web", body: goodFile, status: 404,
			want: map[string]any{"error": "task definition web:9: not found"}, calls: []string{"ApplyService web 3 web"}},
		{name: "apply backend field error", setup: fail("ApplyService", fieldErr("taskDefinition.family", "taken")),
			method: "PUT", path: "/v1/services/web", body: goodFile, status: 400,
			want: map[string]any{"field": "taskDefinition.family", "error": "taken"}, calls: []string{"ApplyService web 3 web"}},
		{name: "apply other failure", setup: fail("ApplyService", errBoom),
			method: "PUT", path: "/v1/services/web", body: goodFile, status: 500,
			want: map[string]any{"field": "", "error": "boom"}, calls: []string{"ApplyService web 3 web"},
			logged: []string{"request failed", "/v1/services/web", "boom"}},

		{name: "delete", method: "DELETE", path: "/v1/services/web", status: 204, calls: []string{"DeleteService web"}},
		{name: "delete missing", setup: fail("DeleteService", fmt.Errorf("service x: %w", ErrNotFound)),
			method: "DELETE", path: "/v1/services/x", status: 404,
			want: map[string]any{"error": "service x: not found"}, calls: []string{"DeleteService x"}},

		{name: "scale", method: "POST", path: "/v1/services/web/scale", body: `{"desiredCount": 5}`, status: 200,
			want: map[string]any{"name": "web", "desiredCount": 5}, calls: []string{"ScaleService web 5"}},
		{name: "scale to zero", method: "POST", path: "/v1/services/web/scale", body: `{"desiredCount": 0}`, status: 200,
			want: map[string]any{"desiredCount": 0}, calls: []string{"ScaleService web 0"}},
		{name: "schedules with their runs' results", setup: func(f *fakeBackend) {
			exit := 3
			f.state.tasks = append(f.state.tasks, &structs.Task{ID: "dddd5555", Node: "n2", DesiredStatus: structs.StatusStopped,
				LastStatus: structs.StatusStopped, StopReason: "essential container app exited", Containers: []structs.ContainerState{{Name: "app", ExitCode: &exit}}})
		}, method: "GET", path: "/v1/schedules", status: 200,
			want: map[string]any{"#": 1, "0.name": "backup", "0.schedule": "rate(1 day)", "0.concurrency": "forbid",
				"0.runs.0.task": "dddd5555", "0.runs.0.exitCode": 3, "0.runs.0.lastStatus": "STOPPED",
				"0.runs.0.stoppedReason": "essential container app exited", "0.runs.1.skipped": "no node"}},
		{name: "apply a schedule", method: "PUT", path: "/v1/schedules/backup",
			body:   `{"service":"backup","schedule":"rate(5 minutes)","taskDefinition":{"family":"backup","containerDefinitions":[{"name":"a","image":"x"}]}}`,
			status: 200, want: map[string]any{"schedule.name": "backup", "schedule.taskDefinition": "backup:1"},
			calls: []string{"ApplySchedule backup rate(5 minutes) allow backup"}},
		{name: "apply a bad schedule", method: "PUT", path: "/v1/schedules/backup",
			body: `{"service":"backup","schedule":"rate(5 weeks)","taskDefinition":"backup"}`, status: 400,
			want: map[string]any{"field": "schedule", "error": "~unit \"weeks\""}},
		{name: "delete a schedule", method: "DELETE", path: "/v1/schedules/backup", status: 204, calls: []string{"DeleteSchedule backup"}},
		{name: "scale a daemon", setup: func(f *fakeBackend) {
			f.state.services = append(f.state.services, &structs.Service{Name: "agent", SchedulingStrategy: structs.SchedulingDaemon})
		}, method: "POST", path: "/v1/services/agent/scale", body: `{"desiredCount": 2}`, status: 409,
			want: map[string]any{"error": "~has no desired count to scale"}},
		{name: "scale missing count", method: "POST", path: "/v1/services/web/scale", body: `{}`, status: 400,
			want: map[string]any{"field": "desiredCount", "error": "required: a whole number from 0 to 100000"}},
		{name: "scale malformed", method: "POST", path: "/v1/services/web/scale", body: `{"desiredCount": "x"}`, status: 400,
			want: map[string]any{"field": "desiredCount", "error": "~required"}},
		{name: "scale negative", method: "POST", path: "/v1/services/web/scale", body: `{"desiredCount": -1}`, status: 400,
			want: map[string]any{"field": "desiredCount", "error": "-1 is out of range: expected 0 to 100000"}},
		{name: "scale too many", method: "POST", path: "/v1/services/web/scale", body: `{"desiredCount": 100001}`, status: 400,
			want: map[string]any{"field": "desiredCount", "error": "~out of range"}},
		{name: "scale too large", method: "POST", path: "/v1/services/web/scale", body: tooLarge, status: 413, want: tooLargeWant},
		{name: "scale missing service", setup: fail("ScaleService", fmt.Errorf("service x: %w", ErrNotFound)),
			method: "POST", path: "/v1/services/x/scale", body: `{"desiredCount": 1}`, status: 404,
			want: map[string]any{"error": "service x: not found"}, calls: []string{"ScaleService x 1"}},

		{name: "tasks leaves out stopped ones", method: "GET", path: "/v1/tasks", status: 200,
			want: map[string]any{"#": 3, "0.id": "aaaa1111", "1.id": "aaaa2222", "2.id": "cccc4444"}},
		{name: "all tasks", method: "GET", path: "/v1/tasks?all", status: 200, want: map[string]any{"#": 4, "2.id": "bbbb3333"}},
		{name: "tasks of a service", method: "GET", path: "/v1/tasks?service=web", status: 200,
			want: map[string]any{"#": 2, "0.service": "web", "1.service": "web"}},
		{name: "all tasks of a service", method: "GET", path: "/v1/tasks?service=web&all=1", status: 200,
			want: map[string]any{"#": 3, "2.id": "bbbb3333"}},
		{name: "tasks of no service", method: "GET", path: "/v1/tasks?service=nope", status: 200, want: map[string]any{"#": 0}},

		{name: "task by id", method: "GET", path: "/v1/tasks/aaaa1111", status: 200,
			want: map[string]any{"id": "aaaa1111", "lastStatus": "RUNNING", "node": "n1"}},
		{name: "task by unique prefix", method: "GET", path: "/v1/tasks/cc", status: 200, want: map[string]any{"id": "cccc4444"}},
		{name: "task by unique suffix", method: "GET", path: "/v1/tasks/2222", status: 200, want: map[string]any{"id": "aaaa2222"}},
		{name: "task by ambiguous prefix", method: "GET", path: "/v1/tasks/aaaa", status: 400,
			want: map[string]any{"field": "id", "error": `"aaaa" matches more than one task; give more of the id`}},
		{name: "task not found", method: "GET", path: "/v1/tasks/zz", status: 404,
			want: map[string]any{"field": "", "error": "task zz: not found"}},

		{name: "run one by default", method: "POST", path: "/v1/tasks", body: runBody, status: 200,
			setup: func(f *fakeBackend) { f.runTasks = []*structs.Task{{ID: "dddd5555", TaskDefinition: "one:1"}} },
			want:  map[string]any{"tasks.#": 1, "tasks.0.id": "dddd5555", "failure": absent, "placementFailure": absent},
			calls: []string{"RunTasks one 1"}},
		{name: "run on named nodes", method: "POST", path: "/v1/tasks", body: strings.Replace(runBody, "{", `{"nodes": ["one", "n2"], "cluster": "garage", `, 1),
			status: 200, calls: []string{"RunTasks one 1 [one n2] garage"}},
		{name: "run on named nodes with a count", method: "POST", path: "/v1/tasks", body: strings.Replace(runBody, "{", `{"nodes": ["one"], "count": 2, `, 1),
			status: 400, want: map[string]any{"field": "count", "error": "~one task on each node"}},
		{name: "run on an empty node name", method: "POST", path: "/v1/tasks", body: strings.Replace(runBody, "{", `{"nodes": ["one", ""], `, 1),
			status: 400, want: map[string]any{"field": "nodes[1]"}},
		{name: "run in a bad cluster", method: "POST", path: "/v1/tasks", body: strings.Replace(runBody, "{", `{"cluster": "no pool", `, 1),
			status: 400, want: map[string]any{"field": "cluster"}},
		{name: "run in an ECS cluster by ARN", method: "POST", path: "/v1/tasks", body: strings.Replace(runBody, "{", `{"cluster": "arn:aws:ecs:eu-west-1:1:cluster/garage", `, 1),
			status: 200, calls: []string{"RunTasks one 1 [] garage"}},
		{name: "place", method: "POST", path: "/v1/tasks/2222/place", body: `{"node": "two"}`, status: 200,
			want: map[string]any{"id": "aaaa2222", "node": "two"}, calls: []string{"PlaceTask aaaa2222 two"}},
		{name: "place without a node", method: "POST", path: "/v1/tasks/2222/place", body: `{}`, status: 400,
			want: map[string]any{"field": "node", "error": "~required"}},
		{name: "place that does not fit", method: "POST", path: "/v1/tasks/2222/place", body: `{"node": "two"}`, status: 409,
			setup: fail("PlaceTask", &structs.PlacementError{Failure: &structs.PlacementFailure{Count: 1, Node: "two",
				Reasons: []structs.PlacementReason{{Kind: structs.ReasonCluster, Detail: "node two is in cluster garage"}}}}),
			want: map[string]any{"error": "unable to place 1 task(s) on node two: node two is in cluster garage"}, calls: []string{"PlaceTask aaaa2222 two"}},
		{name: "pending", method: "GET", path: "/v1/services/web/pending", status: 200,
			want: map[string]any{"service": "web", "cluster": "default", "tasks.#": 0, "nodes.#": 2}},
		{name: "pending of an unknown service", method: "GET", path: "/v1/services/nope/pending", status: 404},
		{name: "pending with a bad wait", method: "GET", path: "/v1/services/web/pending?index=3&wait=forever", status: 400,
			want: map[string]any{"field": "wait"}},
		{name: "pending with a bad index", method: "GET", path: "/v1/services/web/pending?index=-1", status: 400,
			want: map[string]any{"field": "index"}},
		{name: "nodes of a cluster", method: "GET", path: "/v1/nodes?cluster=garage", status: 200, want: map[string]any{"#": 0}},
		{name: "nodes of the default cluster", method: "GET", path: "/v1/nodes?cluster=default", status: 200, want: map[string]any{"#": 2}},
		{name: "tasks of a bad cluster", method: "GET", path: "/v1/tasks?cluster=no%20pool", status: 400, want: map[string]any{"field": "cluster"}},
		{name: "run count 0 is 1", method: "POST", path: "/v1/tasks", body: strings.Replace(runBody, "{", `{"count": 0, `, 1),
			status: 200, want: map[string]any{"tasks.#": 0}, calls: []string{"RunTasks one 1"}},
		{name: "run count", method: "POST", path: "/v1/tasks", body: strings.Replace(runBody, "{", `{"count": 3, `, 1),
			status: 200, calls: []string{"RunTasks one 3"}},
		{name: "run count too high", method: "POST", path: "/v1/tasks", body: strings.Replace(runBody, "{", `{"count": 1001, `, 1),
			status: 400, want: map[string]any{"field": "count", "error": "1001 is out of range: expected 1 to 1000"}},
		{name: "run count negative", method: "POST", path: "/v1/tasks", body: strings.Replace(runBody, "{", `{"count": -2, `, 1),
			status: 400, want: map[string]any{"field": "count", "error": "~out of range"}},
		{name: "run without definition", method: "POST", path: "/v1/tasks", body: `{"count": 2}`, status: 400,
			want: map[string]any{"field": "taskDefinition", "error": "required: an ECS task definition"}},
		{name: "run with a bad definition", method: "POST", path: "/v1/tasks",
			body:   `{"taskDefinition": {"family": "one", "containerDefinitions": [{"name": "a"}]}}`,
			status: 400, want: map[string]any{"field": "taskDefinition.containerDefinitions[0].image", "error": "~required"}},
		{name: "run with an unknown definition field", method: "POST", path: "/v1/tasks",
			body:   `{"taskDefinition": {"family": "one", "famly": "x", "containerDefinitions": [{"name": "a", "image": "x"}]}}`,
			status: 400, want: map[string]any{"field": "taskDefinition.famly", "error": "~unknown field"}},
		{name: "run with a definition that is not an object", method: "POST", path: "/v1/tasks", body: `{"taskDefinition": [1]}`,
			status: 400, want: map[string]any{"field": "body", "error": "expected a JSON object"}},
		{name: "run with an unknown field", method: "POST", path: "/v1/tasks", body: strings.Replace(runBody, "{", `{"cont": 3, `, 1),
			status: 400, want: map[string]any{"field": "cont", "error": "~unknown field"}},
		{name: "run malformed", method: "POST", path: "/v1/tasks", body: `{"count": `, status: 400,
			want: map[string]any{"field": "body", "error": "~malformed JSON"}},
		{name: "run too large", method: "POST", path: "/v1/tasks", body: tooLarge, status: 413, want: tooLargeWant},
		{name: "run that cannot place", method: "POST", path: "/v1/tasks", body: runBody, status: 200,
			setup: func(f *fakeBackend) {
				f.runFailure = &structs.PlacementFailure{Count: 1, Reasons: []structs.PlacementReason{{Kind: structs.ReasonNoNodes, Detail: "no node is registered"}}}
			},
			want: map[string]any{"tasks": "[]", "failure": "unable to place 1 task(s): no node is registered",
				"placementFailure.count": 1, "placementFailure.reasons.0.kind": "noNodes"},
			calls: []string{"RunTasks one 1"}},
		{name: "run without leader", setup: fail("RunTasks", ErrUnavailable), method: "POST", path: "/v1/tasks", body: runBody,
			status: 503, want: map[string]any{"error": "no leader is available"}, calls: []string{"RunTasks one 1"}},

		{name: "stop by prefix", method: "POST", path: "/v1/tasks/aaaa1/stop", status: 200,
			want: map[string]any{"id": "aaaa1111", "desiredStatus": "STOPPED"}, calls: []string{"StopTask aaaa1111"}},
		{name: "stop missing task", method: "POST", path: "/v1/tasks/zz/stop", status: 404, want: map[string]any{"error": "task zz: not found"}},
		{name: "stop ambiguous", method: "POST", path: "/v1/tasks/a/stop", status: 400, want: map[string]any{"field": "id"}},
		{name: "stop without leader", setup: fail("StopTask", ErrUnavailable), method: "POST", path: "/v1/tasks/cccc4444/stop",
			status: 503, calls: []string{"StopTask cccc4444"}},

		{name: "logs of a missing task", method: "GET", path: "/v1/tasks/zz/logs", status: 404, want: map[string]any{"error": "task zz: not found"}},
		{name: "logs that fail before any output", setup: fail("Logs", fmt.Errorf("container web: %w", ErrNotFound)),
			method: "GET", path: "/v1/tasks/aaaa1111/logs?container=web", status: 404,
			want: map[string]any{"field": "", "error": "container web: not found"}, calls: []string{"Logs aaaa1111 web false"}},

		{name: "members", method: "GET", path: "/v1/members", status: 200,
			want:  map[string]any{"#": 1, "0.id": "n1", "0.n": "one", "0.r": "10.0.0.1:7071", "0.a": "10.0.0.1:7070", "0.status": "alive"},
			calls: []string{"Members"}},
		{name: "raft peers", method: "GET", path: "/v1/raft/peers", status: 200,
			want: map[string]any{"#": 1, "0.address": "10.0.0.1:7071", "0.voter": true, "0.leader": true}, calls: []string{"RaftPeers"}},
		{name: "raft peers unavailable", setup: fail("RaftPeers", ErrUnavailable), method: "GET", path: "/v1/raft/peers",
			status: 503, calls: []string{"RaftPeers"}},

		{name: "drain", method: "POST", path: "/v1/nodes/n2/drain", body: `{"enable": true}`, status: 200,
			want: map[string]any{"id": "n2", "eligibility": "ineligible"}, calls: []string{"Drain n2 true"}},
		{name: "undrain", method: "POST", path: "/v1/nodes/n2/drain", body: `{"enable": false}`, status: 200,
			want: map[string]any{"eligibility": "eligible"}, calls: []string{"Drain n2 false"}},
		{name: "drain unknown field", method: "POST", path: "/v1/nodes/n2/drain", body: `{"enabel": true}`, status: 400,
			want: map[string]any{"field": "enabel", "error": "~unknown field"}},
		{name: "drain wrong type", method: "POST", path: "/v1/nodes/n2/drain", body: `{"enable": "yes"}`, status: 400,
			want: map[string]any{"field": "enable", "error": "expected bool, got string"}},
		{name: "drain missing node", method: "POST", path: "/v1/nodes/n9/drain", body: `{"enable": true}`, status: 404,
			want: map[string]any{"error": "node n9: not found"}, calls: []string{"Drain n9 true"}},

		{name: "leave", method: "POST", path: "/v1/leave", status: 200, want: map[string]any{"node": "n1"}, calls: []string{"Leave"}},
		{name: "leave fails", setup: fail("Leave", errBoom), method: "POST", path: "/v1/leave", status: 500,
			want: map[string]any{"error": "boom"}, calls: []string{"Leave"}, logged: []string{"request failed", "/v1/leave"}},

		{name: "internal apply", setup: func(f *fakeBackend) { f.internalResult = map[string]any{"index": 9} },
			method: "POST", path: InternalApplyPath, body: "\x01cmd", status: 200,
			want: map[string]any{"result.index": 9, "error": absent}, calls: []string{`ApplyInternal "\x01cmd"`}},
		{name: "internal apply not forwardable", setup: fail("ApplyInternal", &FieldError{Field: "body", Message: "not a forwardable command"}),
			method: "POST", path: InternalApplyPath, body: "\x09", status: 400,
			want: map[string]any{"error": "body: not a forwardable command", "result": absent, "field": absent}, calls: []string{`ApplyInternal "\t"`}},
		{name: "internal apply on a follower", setup: fail("ApplyInternal", fmt.Errorf("%w: not the leader", ErrUnavailable)),
			method: "POST", path: InternalApplyPath, body: "\x01", status: 503,
			want: map[string]any{"error": "no leader is available: not the leader"}, calls: []string{`ApplyInternal "\x01"`}},
		{name: "internal apply for another node", setup: fail("ApplyInternal", fmt.Errorf("%w: node n2 may not report for n1", ErrForbidden)),
			method: "POST", path: InternalApplyPath, body: "\x01", status: 403,
			want: map[string]any{"error": "forbidden: node n2 may not report for n1"}, calls: []string{`ApplyInternal "\x01"`}},
		{name: "internal apply command error", setup: fail("ApplyInternal", errBoom),
			method: "POST", path: InternalApplyPath, body: "\x01", status: 200,
			want: map[string]any{"error": "boom"}, calls: []string{`ApplyInternal "\x01"`}},
		{name: "internal apply result that is not JSON", setup: func(f *fakeBackend) { f.internalResult = func() {} },
			method: "POST", path: InternalApplyPath, body: "\x01", status: 500,
			want: map[string]any{"error": "~encode answer"}, calls: []string{`ApplyInternal "\x01"`}, logged: []string{"encode answer"}},
		{name: "internal apply too large", method: "POST", path: InternalApplyPath, body: tooLarge, status: 413, want: tooLargeWant},

		{name: "wrong method", method: "GET", path: "/v1/leave", status: 405},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFake()
			if c.setup != nil {
				c.setup(f)
			}
			var logs logBuffer
			srv := serve(t, f, &logs)
			a := send(t, srv.URL, c.method, c.path, c.body, nil)
			if a.status != c.status {
				t.Fatalf("status %d, want %d\n%s", a.status, c.status, a.body)
			}
			switch {
			case c.status == http.StatusNoContent:
				if len(a.body) != 0 {
					t.Errorf("204 with a body: %q", a.body)
				}
			case c.want != nil:
				if ct := a.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				checkJSON(t, a.body, c.want)
			}
			if got := f.recorded(); !slices.Equal(got, c.calls) {
				t.Errorf("backend calls %q, want %q", got, c.calls)
			}
			if c.logged != nil && !logs.has(c.logged...) {
				t.Errorf("log has no line with %q:\n%s", c.logged, logs.String())
			}
			if c.logged == nil && c.status < 500 && logs.String() != "" {
				t.Errorf("a %d was logged:\n%s", c.status, logs.String())
			}
		})
	}
}

// An answer keeps its JSON layout, indented and ending in a newline, as
// scripts that read the API with line tools expect.
func TestAnswerLayout(t *testing.T) {
	srv := serve(t, newFake(), &logBuffer{})
	a := send(t, srv.URL, "GET", "/v1/raft/peers", "", nil)
	want := "[\n  {\n    \"id\": \"n1\",\n    \"address\": \"10.0.0.1:7071\",\n    \"voter\": true,\n    \"leader\": true\n  }\n]\n"
	if string(a.body) != want {
		t.Errorf("got %q, want %q", a.body, want)
	}
	a = send(t, srv.URL, "GET", "/v1/tasks/zz", "", nil)
	if want := "{\n  \"field\": \"\",\n  \"error\": \"task zz: not found\"\n}\n"; string(a.body) != want {
		t.Errorf("got %q, want %q", a.body, want)
	}
}

func TestLogsLocal(t *testing.T) {
	f := newFake()
	srv := serve(t, f, &logBuffer{})
	a := send(t, srv.URL, "GET", "/v1/tasks/aaaa1/logs?container=app&follow=true", "", nil)
	if a.status != 200 || string(a.body) != "logs of aaaa1111\n" {
		t.Fatalf("%d %q", a.status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if got := f.recorded(); !slices.Equal(got, []string{"Logs aaaa1111 app true"}) {
		t.Errorf("calls %q", got)
	}
}

// Once the stream has begun its status is sent, so a failure can only end
// it, and is logged.
func TestLogsFailAfterOutput(t *testing.T) {
	f := newFake()
	f.logs = func(ctx context.Context, w io.Writer) error {
		_, _ = io.WriteString(w, "partial\n")
		return errors.New("engine went away")
	}
	var logs logBuffer
	srv := serve(t, f, &logs)
	a := send(t, srv.URL, "GET", "/v1/tasks/aaaa1111/logs", "", nil)
	if a.status != 200 || string(a.body) != "partial\n" {
		t.Fatalf("%d %q", a.status, a.body)
	}
	if !logs.has("log stream ended", "engine went away") {
		t.Errorf("not logged:\n%s", logs.String())
	}
}

// A followed stream reaches the client line by line, and the backend sees
// the request's context end when the client goes away.
func TestLogsFollowEndsWithClient(t *testing.T) {
	f := newFake()
	ended := make(chan error, 1)
	f.logs = func(ctx context.Context, w io.Writer) error {
		_, _ = io.WriteString(w, "first\n")
		<-ctx.Done()
		ended <- ctx.Err()
		return ctx.Err()
	}
	srv := serve(t, f, &logBuffer{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/tasks/aaaa1111/logs?follow=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("%q %v", line, err)
	}
	cancel()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("backend saw %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the backend's ctx did not end with the request")
	}
}

// Every backend call gets the request's context: a write the client gives
// up on is given up by the backend too.
func TestBackendSeesRequestEnd(t *testing.T) {
	f := newFake()
	srv := serve(t, f, &logBuffer{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "DELETE", srv.URL+"/v1/services/block", nil)
	req.Header.Set("Content-Type", "application/json")
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the request did not time out")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(f.recorded(), "DeleteService ended context canceled") {
		if time.Now().After(deadline) {
			t.Fatalf("the backend did not see the request end: %q", f.recorded())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Logs of a task on another node come from that node's API.
func TestLogsProxiedToTheTasksNode(t *testing.T) {
	other := newFake()
	other.health.Node = "n2"
	other.logs = func(ctx context.Context, w io.Writer) error {
		_, err := io.WriteString(w, "from n2\n")
		return err
	}
	otherSrv := serve(t, other, &logBuffer{})

	f := newFake()
	f.nodeAPI["n2"] = strings.TrimPrefix(otherSrv.URL, "http://")
	srv := serve(t, f, &logBuffer{})
	a := send(t, srv.URL, "GET", "/v1/tasks/cccc/logs?container=job&follow=true", "", nil)
	if a.status != 200 || string(a.body) != "from n2\n" {
		t.Fatalf("%d %q", a.status, a.body)
	}
	if ct := a.header.Values("Content-Type"); !slices.Equal(ct, []string{"text/plain; charset=utf-8"}) {
		t.Errorf("Content-Type %q", ct)
	}
	if got := f.recorded(); len(got) != 0 {
		t.Errorf("the first node's backend was called: %q", got)
	}
	if got := other.recorded(); !slices.Equal(got, []string{"Logs cccc4444 job true"}) {
		t.Errorf("the task's node got %q", got)
	}

	// The task's node answers errors as its own.
	a = send(t, srv.URL, "GET", "/v1/tasks/zzz/logs", "", nil)
	if a.status != 404 {
		t.Errorf("missing task: %d %s", a.status, a.body)
	}

	// Without the node's address, there is nobody to ask.
	delete(f.nodeAPI, "n2")
	a = send(t, srv.URL, "GET", "/v1/tasks/cccc4444/logs", "", nil)
	if a.status != 503 || !strings.Contains(string(a.body), "no node running the task is known yet") {
		t.Errorf("unknown node: %d %s", a.status, a.body)
	}
}

// leaderStub stands for the leader's API: it records what reaches it and
// answers 201 so that a test can tell its answer from the follower's.
type leaderStub struct {
	mu   sync.Mutex
	seen []string
}

func (l *leaderStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	l.mu.Lock()
	l.seen = append(l.seen, fmt.Sprintf("%s %s %s fwd=%s", r.Method, r.URL.RequestURI(), body, r.Header.Get(forwardedHeader)))
	l.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, `{"from": "leader"}`)
}

func (l *leaderStub) requests() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}

func TestForwarding(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := strings.TrimPrefix(closed.URL, "http://")
	closed.Close()

	cases := []struct {
		name         string
		leader       bool
		leaderAPI    string // "stub" is the stub leader's address
		barrierErr   error
		method, path string
		body         string
		header       http.Header
		status       int
		// contains is part of the answer's body.
		contains string
		// atLeader is what the stub leader must have received.
		atLeader []string
		calls    []string
	}{
		{name: "write on a follower goes to the leader", leaderAPI: "stub", method: "PUT", path: "/v1/services/web", body: goodFile,
			status: 201, contains: `"from": "leader"`, atLeader: []string{"PUT /v1/services/web " + goodFile + " fwd=1"}},
		{name: "a service named logs is forwarded too", leaderAPI: "stub", method: "DELETE", path: "/v1/services/logs",
			status: 201, atLeader: []string{"DELETE /v1/services/logs  fwd=1"}},
		{name: "consistent read on a follower goes to the leader", leaderAPI: "stub", method: "GET", path: "/v1/tasks?consistent&all",
			status: 201, atLeader: []string{"GET /v1/tasks?consistent&all  fwd=1"}},
		{name: "plain read on a follower is local", leaderAPI: "stub", method: "GET", path: "/v1/services/web",
			status: 200, contains: `"runningCount": 1`},
		{name: "leave on a follower is local", leaderAPI: "stub", method: "POST", path: "/v1/leave",
			status: 200, calls: []string{"Leave"}},
		{name: "internal apply on a follower is local", leaderAPI: "stub", method: "POST", path: InternalApplyPath, body: "\x01",
			status: 200, calls: []string{`ApplyInternal "\x01"`}},
		{name: "logs on a follower are local", leaderAPI: "stub", method: "GET", path: "/v1/tasks/aaaa1111/logs?consistent",
			status: 200, contains: "logs of aaaa1111", calls: []string{"Logs aaaa1111  false"}},
		{name: "a forwarded request is not forwarded again", leaderAPI: "stub", method: "POST", path: "/v1/services/web/scale",
			body: `{"desiredCount": 1}`, header: http.Header{forwardedHeader: {"1"}},
			status: 503, contains: "the request was forwarded here, but this agent cannot serve it either"},
		{name: "no leader known", method: "POST", path: "/v1/tasks", body: runBody,
			status: 503, contains: "no leader is known yet; try again shortly"},
		{name: "leader unreachable", leaderAPI: closedAddr, method: "DELETE", path: "/v1/services/web",
			status: 503, contains: "forwarding to the leader at " + closedAddr},
		{name: "consistent read on the leader waits for the barrier", leader: true, method: "GET", path: "/v1/services/web?consistent",
			status: 200, contains: `"name": "web"`, calls: []string{"Barrier"}},
		{name: "failed barrier", leader: true, barrierErr: errors.New("lost the lead"), method: "GET", path: "/v1/nodes?consistent",
			status: 503, contains: "no leader is available: consistent read: lost the lead", calls: []string{"Barrier"}},
		{name: "plain read on the leader needs no barrier", leader: true, method: "GET", path: "/v1/nodes",
			status: 200, contains: `"id": "n1"`},
		{name: "write on the leader is served", leader: true, method: "DELETE", path: "/v1/services/web",
			status: 204, calls: []string{"DeleteService web"}},
		{name: "a forwarded write on the leader is served", leader: true, method: "DELETE", path: "/v1/services/web",
			header: http.Header{forwardedHeader: {"1"}}, status: 204, calls: []string{"DeleteService web"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stub := &leaderStub{}
			stubSrv := httptest.NewServer(stub)
			defer stubSrv.Close()
			f := newFake()
			f.leader = c.leader
			f.leaderAPI = c.leaderAPI
			if c.leaderAPI == "stub" {
				f.leaderAPI = strings.TrimPrefix(stubSrv.URL, "http://")
			}
			if c.barrierErr != nil {
				f.errs["Barrier"] = c.barrierErr
			}
			srv := serve(t, f, &logBuffer{})
			a := send(t, srv.URL, c.method, c.path, c.body, c.header)
			if a.status != c.status || !strings.Contains(string(a.body), c.contains) {
				t.Fatalf("%d %s; want %d containing %q", a.status, a.body, c.status, c.contains)
			}
			if got := stub.requests(); !slices.Equal(got, c.atLeader) {
				t.Errorf("the leader got %q, want %q", got, c.atLeader)
			}
			if got := f.recorded(); !slices.Equal(got, c.calls) {
				t.Errorf("backend calls %q, want %q", got, c.calls)
			}
		})
	}
}

func TestIsLogsPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/v1/tasks/abc/logs":    true,
		"/v1/tasks//logs":       false,
		"/v1/tasks/a/b/logs":    false,
		"/v1/services/logs":     false,
		"/v1/services/web/logs": false,
		"/v1/tasks/logs":        false,
	} {
		if got := isLogsPath(path); got != want {
			t.Errorf("isLogsPath(%q) = %v", path, got)
		}
	}
}

// TestBrowserGuard sends what a web page could forge: a text/plain or
// bodiless POST without the JSON content type, and, on an agent that
// restricts hosts, a request through someone else's domain name.
func TestBrowserGuard(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(NewHandler(f, (&logBuffer{}).logger(), Options{RestrictHosts: true, Hosts: []string{"pi-1"}}))
	defer srv.Close()
	for _, tc := range []struct {
		name, method, path, contentType, host string
		status                                int
	}{
		{"text/plain leave", "POST", "/v1/leave", "text/plain", "", http.StatusUnsupportedMediaType},
		{"form stop", "POST", "/v1/tasks/t1/stop", "application/x-www-form-urlencoded", "", http.StatusUnsupportedMediaType},
		{"no content type", "DELETE", "/v1/services/web", "-", "", http.StatusUnsupportedMediaType},
		{"rebound name", "GET", "/v1/taskdefs", "", "evil.example:7070", http.StatusForbidden},
		{"rebound name on a write", "POST", "/v1/leave", "application/json", "evil.example", http.StatusForbidden},
		{"IP literal", "GET", "/v1/health", "", "127.0.0.1:7070", http.StatusOK},
		{"IPv6 literal", "GET", "/v1/health", "", "[::1]:7070", http.StatusOK},
		{"localhost", "GET", "/v1/health", "", "localhost:7070", http.StatusOK},
		{"the node's name", "GET", "/v1/health", "", "PI-1", http.StatusOK},
		{"json with charset", "DELETE", "/v1/services/web", "application/json; charset=utf-8", "", http.StatusNoContent},
		{"text/plain forwarded command", "POST", InternalApplyPath, "text/plain", "", http.StatusUnsupportedMediaType},
		{"forwarded command without a content type", "POST", InternalApplyPath, "-", "", http.StatusUnsupportedMediaType},
		{"forwarded command as agents send it", "POST", InternalApplyPath, "application/octet-stream", "", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "-" && tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}
