package command

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

const runAnswer = `{"tasks":[{"id":"f00dfeed-1111-4111-8111-111111111111"},{"id":"deadbeef-2222-4222-8222-222222222222"}]}`

// sentRun decodes the run request the fake API got last.
func sentRun(t *testing.T, f *fakeAPI) (structs.TaskDefinition, int) {
	t.Helper()
	var req api.RunRequest
	if err := json.Unmarshal([]byte(f.last(t).body), &req); err != nil {
		t.Fatal(err)
	}
	var td structs.TaskDefinition
	if err := json.Unmarshal(req.TaskDefinition, &td); err != nil {
		t.Fatal(err)
	}
	return td, req.Count
}

func TestRunImage(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"POST /v1/tasks": ok(runAnswer)})
	r := skiffAt(f, "run", "--count", "2", "--cpu", "256", "-e", "A=1", "-e", "B=x=y", "--publish", "8080", "--publish", "80:8081",
		"registry.local:5000/team/my.app:1.2@sha256:abc", "--", "sh", "-c", "echo hi")
	wantOK(t, r)
	if r.stdout != "f00dfeed-1111-4111-8111-111111111111\ndeadbeef-2222-4222-8222-222222222222\n" {
		t.Errorf("stdout %q, want the task ids", r.stdout)
	}
	td, count := sentRun(t, f)
	want := structs.TaskDefinition{Family: "my-app", ContainerDefinitions: []structs.ContainerDefinition{{
		Name: "my-app", Image: "registry.local:5000/team/my.app:1.2@sha256:abc", CPU: 256, Memory: 128,
		Command:      []string{"sh", "-c", "echo hi"},
		Environment:  []structs.KeyValue{{Name: "A", Value: "1"}, {Name: "B", Value: "x=y"}},
		PortMappings: []structs.PortMapping{{ContainerPort: 8080}, {ContainerPort: 8081, HostPort: 80}},
	}}}
	if !reflect.DeepEqual(td, want) || count != 2 {
		t.Errorf("sent %+v count %d\nwant %+v count 2", td, count, want)
	}
}

func TestRunImageName(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"POST /v1/tasks": ok(runAnswer)})
	wantOK(t, skiffAt(f, "run", "--name", "job", "--memory", "64", "busybox"))
	td, count := sentRun(t, f)
	want := structs.TaskDefinition{Family: "job", ContainerDefinitions: []structs.ContainerDefinition{{Name: "job", Image: "busybox", Memory: 64}}}
	if !reflect.DeepEqual(td, want) || count != 1 {
		t.Errorf("sent %+v count %d\nwant %+v count 1", td, count, want)
	}
}

func TestRunFile(t *testing.T) {
	const def = `{"family":"job","containerDefinitions":[{"name":"a","image":"busybox"}]}`
	path := filepath.Join(t.TempDir(), "td.json")
	if err := os.WriteFile(path, []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFakeAPI(t, map[string]answer{"POST /v1/tasks": ok(runAnswer)})
	wantOK(t, skiffAt(f, "run", "-f", path))
	var req api.RunRequest
	if err := json.Unmarshal([]byte(f.last(t).body), &req); err != nil {
		t.Fatal(err)
	}
	if string(req.TaskDefinition) != def || req.Count != 1 {
		t.Errorf("sent %s count %d, want the file as it is, count 1", req.TaskDefinition, req.Count)
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-e", "NOVALUE", "busybox"}, `skiff: --env "NOVALUE": expected KEY=VALUE` + "\n"},
		{[]string{"-e", "=x", "busybox"}, `skiff: --env "=x": expected KEY=VALUE` + "\n"},
		{[]string{"-p", "http", "busybox"}, `skiff: --publish "http": expected HOST:CONTAINER or CONTAINER` + "\n"},
		{[]string{"-p", "80:", "busybox"}, `skiff: --publish "80:": expected HOST:CONTAINER or CONTAINER` + "\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := newFakeAPI(t, nil)
			r := skiffAt(f, append([]string{"run"}, tc.args...)...)
			if r.code != 1 || r.stderr != tc.want {
				t.Errorf("got exit code %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
			}
			if got := f.got(); len(got) != 0 {
				t.Errorf("sent %q; want nothing sent", got)
			}
		})
	}
}

// TestRunPartlyPlaced checks that run prints the tasks it placed and the
// warnings, then fails with the reason the others were not placed.
func TestRunPartlyPlaced(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"POST /v1/tasks": ok(
		`{"tasks":[{"id":"f00dfeed-1111-4111-8111-111111111111"}],"failure":"1 of 2 tasks could not be placed: 2 nodes lack memory","warnings":["logConfiguration: not acted on"]}`)})
	r := skiffAt(f, "run", "--count", "2", "busybox")
	want := "warning: logConfiguration: not acted on\nskiff: 1 of 2 tasks could not be placed: 2 nodes lack memory\n"
	if r.code != 1 || r.stdout != "f00dfeed-1111-4111-8111-111111111111\n" || r.stderr != want {
		t.Errorf("got exit code %d, stdout %q, stderr %q; want 1, the placed task, %q", r.code, r.stdout, r.stderr, want)
	}
}

func TestStop(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"POST /v1/tasks/f00d/stop": ok(`{"id":"f00dfeed-1111-4111-8111-111111111111","desiredStatus":"STOPPED","lastStatus":"RUNNING"}`)})
	r := skiffAt(f, "stop", "f00d")
	wantOK(t, r)
	if r.stdout != "task f00dfeed-1111-4111-8111-111111111111: desired status STOPPED\n" {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestLogs(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/tasks/f00d/logs": ok("listening on :8080\nGET /greet\n")})
	r := skiffAt(f, "logs", "-f", "--container", "app", "f00d")
	wantOK(t, r)
	if r.stdout != "listening on :8080\nGET /greet\n" {
		t.Errorf("stdout %q, want the log as it is", r.stdout)
	}
	if got := f.got(); !slices.Equal(got, []string{"GET /v1/tasks/f00d/logs?container=app&follow=true"}) {
		t.Errorf("requests %q", got)
	}
}

// run --node sends the nodes and the pool, and a node without room fails
// the run with the agent's reason.
func TestRunOnNodes(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"POST /v1/tasks": ok(runAnswer)})
	wantOK(t, skiffAt(f, "run", "--node", "n1,n2", "--node", "pi-3", "--cluster", "garage", "busybox"))
	var req api.RunRequest
	if err := json.Unmarshal([]byte(f.last(t).body), &req); err != nil {
		t.Fatal(err)
	}
	if strings.Join(req.Nodes, " ") != "n1 n2 pi-3" || req.Cluster != "garage" || req.Count != 1 {
		t.Errorf("sent nodes %q, cluster %q, count %d", req.Nodes, req.Cluster, req.Count)
	}
	const why = "unable to place 1 task(s) on node n2: 0 of 1 node can run busybox (cpu 0, memory 128 MiB): 1 node lack memory (need 128 MiB, most free 64 MiB)"
	f = newFakeAPI(t, map[string]answer{"POST /v1/tasks": {http.StatusConflict, `{"field":"","error":"` + why + `"}`}})
	r := skiffAt(f, "run", "--node", "n2", "busybox")
	if r.code == 0 || !strings.Contains(r.stderr, why) || r.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q: want a failure with the reason", r.code, r.stdout, r.stderr)
	}
	r = skiffAt(f, "run", "--node", "n2", "--count", "3", "busybox")
	if r.code == 0 || !strings.Contains(r.stderr, "either --node") {
		t.Errorf("--node with --count: exit %d, stderr %q", r.code, r.stderr)
	}
}
