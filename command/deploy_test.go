package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
