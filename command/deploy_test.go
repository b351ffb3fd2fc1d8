package command

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

const (
	webRunsTwo = `[{"id":"t1","service":"web","taskDefinition":"web:2","node":"n1","desiredStatus":"RUNNING","lastStatus":"RUNNING"},
{"id":"t2","service":"web","taskDefinition":"web:2","node":"n1","desiredStatus":"RUNNING","lastStatus":"RUNNING"}]`
	applyWeb2 = `{"service":{"name":"web","taskDefinition":"web:2","desiredCount":2,"restartPolicy":{},"createdAt":1,"updatedAt":5000}}`
)

func applyFileFor(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "web.json")
	if err := os.WriteFile(path, []byte(serviceFile), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// An apply watches the deployment it started and exits 0 once it
// completes, with a plain line when its output is not a terminal.
func TestApplyWatchesUntilCompleted(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"PUT /v1/services/web": ok(applyWeb2),
		"GET /v1/services/web": ok(`{"name":"web","taskDefinition":"web:2","desiredCount":2,"runningCount":2,"deployments":[
{"id":"d0000000-old","service":"web","from":"web:0","to":"web:2","state":"ROLLED_BACK","reason":"an earlier one","createdAt":1000},
{"id":"d1111111-new","service":"web","from":"web:1","to":"web:2","state":"COMPLETED","desired":2,"running":2,"healthy":2,"createdAt":6000}]}`),
		"GET /v1/tasks": ok(webRunsTwo),
	})
	r := skiffAt(f, "apply", "-f", applyFileFor(t))
	wantOK(t, r)
	if want := "web: COMPLETED web:1 -> web:2: 2 placed, 2 running, 2 healthy of 2; 0 old task(s) left\n"; !strings.HasSuffix(r.stdout, want) {
		t.Errorf("stdout %q, want it to end with %q", r.stdout, want)
	}
}

// An apply whose deployment rolled back exits non-zero and says why.
func TestApplyExitsNonZeroOnRollback(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"PUT /v1/services/web": ok(applyWeb2),
		"GET /v1/services/web": ok(`{"name":"web","taskDefinition":"web:1","desiredCount":2,"deployments":[
{"id":"d1111111-new","service":"web","from":"web:1","to":"web:2","state":"ROLLED_BACK","failed":3,"reason":"circuit breaker: 3 tasks of web:2 failed (threshold 3); the last: essential container app exited with code 1; rolled back to web:1","createdAt":6000},
{"id":"d2222222-rb","service":"web","from":"web:2","to":"web:1","rollback":true,"state":"IN_PROGRESS","createdAt":7000}]}`),
		"GET /v1/tasks": ok(webRunsTwo),
	})
	r := skiffAt(f, "apply", "-f", applyFileFor(t))
	if r.code == 0 || !strings.Contains(r.stderr, "rolled back: circuit breaker: 3 tasks of web:2 failed") || !strings.Contains(r.stderr, "exited with code 1") {
		t.Errorf("exit code %d, stderr %q: want non-zero naming the failure", r.code, r.stderr)
	}
}

// A first apply has no deployment: the watch ends once the desired count
// runs.
func TestApplyWatchesAFirstApply(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"PUT /v1/services/web": ok(applyWeb2),
		"GET /v1/services/web": ok(`{"name":"web","taskDefinition":"web:2","desiredCount":2,"runningCount":2}`),
		"GET /v1/tasks":        ok(webRunsTwo),
	})
	r := skiffAt(f, "apply", "-f", applyFileFor(t))
	wantOK(t, r)
	if want := "web: web:2: 2 placed, 2 running of 2; 0 old task(s) left\n"; !strings.HasSuffix(r.stdout, want) {
		t.Errorf("stdout %q, want it to end with %q", r.stdout, want)
	}
}

func TestDeploymentsTable(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/deployments": ok(`[
{"id":"d1111111-new","service":"web","from":"web:1","to":"web:2","state":"IN_PROGRESS","desired":3,"pending":1,"running":2,"healthy":1,"oldRunning":2,"createdAt":0}]`)})
	r := skiffAt(f, "deployments", "web")
	wantOK(t, r)
	want := "ID        SERVICE  FROM   TO     STATE        DESIRED  PENDING  RUNNING  HEALTHY  OLD  FAILED  AGE  REASON\n" +
		"d1111111  web      web:1  web:2  IN_PROGRESS  3        1        2        1        2    0       -    -\n"
	if r.stdout != want {
		t.Errorf("stdout\n%s\nwant\n%s", r.stdout, want)
	}
	if got := f.last(t).uri; got != "/v1/deployments?service=web" {
		t.Errorf("asked %s", got)
	}
}

func TestRollbackTarget(t *testing.T) {
	svc := &structs.Service{Name: "web", TaskDefinition: "web:5", Deployments: []structs.Deployment{
		{From: "web:1", To: "web:2"}, {From: "web:3", To: "web:5"}, {From: "web:5", To: "web:4"}}}
	for _, c := range []struct{ to, want string }{{"", "web:3"}, {"2", "web:2"}, {"web:1", "web:1"}} {
		if got, err := rollbackTarget(svc, c.to); err != nil || got != c.want {
			t.Errorf("--to %q: %q, %v; want %s", c.to, got, err, c.want)
		}
	}
	if got, err := rollbackTarget(&structs.Service{Name: "web", TaskDefinition: "web:7"}, ""); err != nil || got != "web:6" {
		t.Errorf("without deployments: %q, %v; want web:6", got, err)
	}
	if _, err := rollbackTarget(&structs.Service{Name: "web", TaskDefinition: "web:1"}, ""); err == nil {
		t.Error("a rollback from the first revision found a target")
	}
	if _, err := rollbackTarget(svc, "x"); err == nil {
		t.Error("--to x accepted")
	}
}

func TestRollbackAndRestartSend(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"GET /v1/services/web":           ok(`{"name":"web","taskDefinition":"web:2","desiredCount":2,"deployments":[{"id":"d1","from":"web:1","to":"web:2","state":"COMPLETED"}]}`),
		"POST /v1/services/web/rollback": ok(`{"name":"web","taskDefinition":"web:1","desiredCount":2}`),
		"POST /v1/services/web/restart":  ok(`{"name":"web","taskDefinition":"web:2","desiredCount":2}`),
	})
	r := skiffAt(f, "rollback", "--detach", "web")
	wantOK(t, r)
	var body map[string]string
	if err := json.Unmarshal([]byte(f.last(t).body), &body); err != nil || body["taskDefinition"] != "web:1" {
		t.Errorf("rollback sent %q, want web:1", f.last(t).body)
	}
	if r.stdout != "service web: rolling back from web:2 to web:1\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	r = skiffAt(f, "restart", "--detach", "web")
	wantOK(t, r)
	if got := f.last(t); got.method != "POST" || got.uri != "/v1/services/web/restart" {
		t.Errorf("restart sent %s %s", got.method, got.uri)
	}
}

// A restart's watch does not end before the tasks from before the restart
// are replaced, though they run the revision the service runs.
func TestRestartWatchWaitsForOldTasks(t *testing.T) {
	svc := `{"name":"web","taskDefinition":"web:2","desiredCount":2,"restartedAt":5000}`
	f := newFakeAPI(t, map[string]answer{"GET /v1/services/web": ok(svc), "GET /v1/tasks": ok(webRunsTwo)})
	cl := api.NewClient(f.URL, nil)
	r, err := observe(t.Context(), cl, "web", "web:2", 5000)
	if err != nil || r.done {
		t.Errorf("observe: %+v, %v; want not done while tasks from before the restart run", r, err)
	}
}

// A daemon service's apply has no count to wait for: the watch ends once
// its tasks run and no node is left waiting for one.
func TestApplyWatchesADaemon(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"PUT /v1/services/web": ok(`{"service":{"name":"web","taskDefinition":"web:2","schedulingStrategy":"DAEMON"}}`),
		"GET /v1/services/web": ok(`{"name":"web","taskDefinition":"web:2","schedulingStrategy":"DAEMON","runningCount":2}`),
		"GET /v1/tasks":        ok(webRunsTwo),
	})
	r := skiffAt(f, "apply", "-f", applyFileFor(t))
	wantOK(t, r)
}
