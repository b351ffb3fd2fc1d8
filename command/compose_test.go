package command

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/api"
)

const composeYAML = `
services:
  db:
    image: skiff-testapp:latest
    healthcheck: {test: [CMD, /testapp, probe], interval: 5s}
    volumes: [data:/data]
    secrets: [db_password]
  api:
    image: skiff-testapp:latest
    depends_on: {db: {condition: service_healthy}}
    container_name: api1
volumes:
  data: {}
secrets:
  db_password: {file: ./pw.txt}
`

// apply -f compose.yaml sets the file's secrets, then applies one service
// per compose service, named and labelled with the project, with the
// mapping's warnings on standard error.
func TestApplyCompose(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shop")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"compose.yaml": composeYAML, "pw.txt": "hunter2\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := newFakeAPI(t, map[string]answer{
		"GET /v1/secrets":                  ok(`[]`),
		"PUT /v1/secrets/blue_db_password": ok(`{"name":"blue_db_password","size":7,"version":1}`),
		"PUT /v1/services/blue-db":         ok(`{"service":{"name":"blue-db","taskDefinition":"blue-db:1","desiredCount":1}}`),
		"PUT /v1/services/blue-api":        ok(`{"service":{"name":"blue-api","taskDefinition":"blue-api:1","desiredCount":1}}`),
		"GET /v1/services":                 ok(`[{"name":"blue-db","project":"blue"},{"name":"blue-api","project":"blue"},{"name":"blue-old","project":"blue"},{"name":"other","project":"red"}]`),
	})
	r := skiffAt(f, "apply", "--detach", "-f", filepath.Join(dir, "compose.yaml"), "--project", "blue")
	if r.code != 0 {
		t.Fatalf("exit code %d, stderr %q", r.code, r.stderr)
	}
	if want := "secret blue_db_password set from " + filepath.Join(dir, "pw.txt") + "\nservice blue-api: blue-api:1, desired count 1\nservice blue-db: blue-db:1, desired count 1\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	for _, w := range []string{"warning: services.api.container_name is a compose field skiff does not act on",
		"warning: services.db.secrets[0]: skiff gives secret db_password as the environment variable DB_PASSWORD",
		"warning: service blue-old of project blue is not in"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q lacks %q", r.stderr, w)
		}
	}
	if strings.Contains(r.stderr, "service other") {
		t.Errorf("stderr %q speaks of another project's service", r.stderr)
	}
	wantReqs := []string{"GET /v1/secrets", "PUT /v1/secrets/blue_db_password", "PUT /v1/services/blue-api", "PUT /v1/services/blue-db", "GET /v1/services"}
	if got := f.got(); !slices.Equal(got, wantReqs) {
		t.Fatalf("requests %q, want %q", got, wantReqs)
	}
	f.mu.Lock()
	reqs := f.requests
	f.mu.Unlock()
	if reqs[1].body != `{"value":"aHVudGVyMg=="}` {
		t.Errorf("secret sent as %s, want hunter2 without its newline", reqs[1].body)
	}
	var sf api.ServiceFile
	if err := json.Unmarshal([]byte(reqs[2].body), &sf); err != nil {
		t.Fatal(err)
	}
	if sf.Project != "blue" || len(sf.DependsOn) != 1 || sf.DependsOn[0].Service != "blue-db" || sf.DependsOn[0].Condition != "service_healthy" {
		t.Errorf("api sent as %s", reqs[2].body)
	}
	if err := json.Unmarshal([]byte(reqs[3].body), &sf); err != nil {
		t.Fatal(err)
	}
	if td := sf.TaskDefinition.Def; td == nil || td.Volumes[0].Name != "blue_data" || td.ContainerDefinitions[0].Secrets[0].ValueFrom != "blue_db_password" {
		t.Errorf("db sent as %s", reqs[3].body)
	}
}

// writeCompose writes a compose file of two services, db and api, in a
// folder of its own and returns its path.
func writeCompose(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(path, []byte("services:\n  db: {image: skiff-testapp:latest}\n  api: {image: skiff-testapp:latest}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// An apply of a compose file watches every service's deployment, as an
// apply of a service file does, and exits 0 once all of them completed.
func TestApplyComposeWatches(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"PUT /v1/services/p-db":  ok(`{"service":{"name":"p-db","taskDefinition":"p-db:2","desiredCount":1,"updatedAt":5000}}`),
		"PUT /v1/services/p-api": ok(`{"service":{"name":"p-api","taskDefinition":"p-api:2","desiredCount":1,"updatedAt":5000}}`),
		"GET /v1/services":       ok(`[]`),
		"GET /v1/secrets":        ok(`[]`),
		"GET /v1/services/p-db": ok(`{"name":"p-db","taskDefinition":"p-db:2","desiredCount":1,"deployments":[
{"id":"d1111111-db","service":"p-db","from":"p-db:1","to":"p-db:2","state":"COMPLETED","desired":1,"running":1,"healthy":1,"createdAt":6000}]}`),
		"GET /v1/services/p-api": ok(`{"name":"p-api","taskDefinition":"p-api:2","desiredCount":1,"deployments":[
{"id":"d2222222-api","service":"p-api","from":"p-api:1","to":"p-api:2","state":"COMPLETED","desired":1,"running":1,"healthy":1,"createdAt":6000}]}`),
		"GET /v1/tasks": ok(`[]`),
	})
	r := skiffAt(f, "apply", "-f", writeCompose(t), "-p", "p")
	if r.code != 0 {
		t.Fatalf("exit code %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"p-api: COMPLETED p-api:1 -> p-api:2: 1 placed, 1 running, 1 healthy of 1; 0 old task(s) left\n",
		"p-db: COMPLETED p-db:1 -> p-db:2: 1 placed, 1 running, 1 healthy of 1; 0 old task(s) left\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout %q lacks %q", r.stdout, want)
		}
	}
	if got := f.got(); !slices.Contains(got, "GET /v1/services/p-api?consistent") || !slices.Contains(got, "GET /v1/services/p-db?consistent") {
		t.Errorf("requests %q: want both services watched through the leader", got)
	}
}

// A compose service whose deployment rolls back makes the apply exit
// non-zero naming it, while the others are still watched to their end.
func TestApplyComposeNamesARollback(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"PUT /v1/services/p-db":  ok(`{"service":{"name":"p-db","taskDefinition":"p-db:2","desiredCount":1,"updatedAt":5000}}`),
		"PUT /v1/services/p-api": ok(`{"service":{"name":"p-api","taskDefinition":"p-api:2","desiredCount":1,"updatedAt":5000}}`),
		"GET /v1/services":       ok(`[]`),
		"GET /v1/secrets":        ok(`[]`),
		"GET /v1/services/p-db": ok(`{"name":"p-db","taskDefinition":"p-db:2","desiredCount":1,"deployments":[
{"id":"d1111111-db","service":"p-db","from":"p-db:1","to":"p-db:2","state":"COMPLETED","desired":1,"running":1,"healthy":1,"createdAt":6000}]}`),
		"GET /v1/services/p-api": ok(`{"name":"p-api","taskDefinition":"p-api:1","desiredCount":1,"deployments":[
{"id":"d2222222-api","service":"p-api","from":"p-api:1","to":"p-api:2","state":"ROLLED_BACK","failed":3,"reason":"circuit breaker: 3 tasks of p-api:2 failed (threshold 3); rolled back to p-api:1","createdAt":6000}]}`),
		"GET /v1/tasks": ok(`[]`),
	})
	r := skiffAt(f, "apply", "-f", writeCompose(t), "-p", "p")
	if r.code == 0 || !strings.Contains(r.stderr, "service p-api rolled back: circuit breaker") {
		t.Errorf("exit code %d, stderr %q: want non-zero naming p-api's rollback", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "p-db: COMPLETED") {
		t.Errorf("stdout %q: want p-db watched to its end", r.stdout)
	}
}

// With --detach an apply of a compose file returns once the services are
// applied.
func TestApplyComposeDetached(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"PUT /v1/services/p-db":  ok(`{"service":{"name":"p-db","taskDefinition":"p-db:2","desiredCount":1,"updatedAt":5000}}`),
		"PUT /v1/services/p-api": ok(`{"service":{"name":"p-api","taskDefinition":"p-api:2","desiredCount":1,"updatedAt":5000}}`),
		"GET /v1/services":       ok(`[]`),
		"GET /v1/secrets":        ok(`[]`),
	})
	if r := skiffAt(f, "apply", "--detach", "-f", writeCompose(t), "-p", "p"); r.code != 0 {
		t.Fatalf("exit code %d, stderr %q", r.code, r.stderr)
	}
	if got, want := f.got(), []string{"GET /v1/secrets", "PUT /v1/services/p-api", "PUT /v1/services/p-db", "GET /v1/services"}; !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
}

// A compose file that a service cannot be made of is refused before
// anything is sent, and so is one docker compose would refuse, with
// compose's message.
func TestApplyComposeRefused(t *testing.T) {
	for name, c := range map[string]struct{ file, msg string }{
		"compose refuses":      {"services:\n  a:\n    image: x\n    colour: red\n", "colour"},
		"the API would refuse": {"services:\n  a:\n    image: x\n    deploy: {resources: {limits: {memory: 1k}}}\n", "services.a, as skiff service p-a: taskDefinition.containerDefinitions[0].memory"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "compose.yaml")
			if err := os.WriteFile(path, []byte(c.file), 0o644); err != nil {
				t.Fatal(err)
			}
			f := newFakeAPI(t, nil)
			r := skiffAt(f, "apply", "-f", path, "-p", "p")
			if r.code != 1 || !strings.Contains(r.stderr, c.msg) {
				t.Errorf("exit code %d, stderr %q; want 1 and %q", r.code, r.stderr, c.msg)
			}
			if got := f.got(); len(got) != 0 {
				t.Errorf("sent %q", got)
			}
		})
	}
}

// A YAML service file is the JSON one in YAML: it is sent as JSON, and
// meets the same field checks.
func TestApplyYAMLServiceFile(t *testing.T) {
	const file = `
service: web
desiredCount: 3
taskDefinition:
  family: web
  containerDefinitions:
    - {name: app, image: "skiff-testapp:latest", memory: 32}
`
	f := newFakeAPI(t, map[string]answer{"PUT /v1/services/web": ok(applyAnswer)})
	r := skiff(file, "--addr", f.URL, "apply", "--detach", "-f", "-")
	if r.code != 0 || r.stdout != "service web: web:1, desired count 3\n" {
		t.Fatalf("exit code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := f.last(t).body; got != `{"desiredCount":3,"service":"web","taskDefinition":{"containerDefinitions":[{"image":"skiff-testapp:latest","memory":32,"name":"app"}],"family":"web"}}` {
		t.Errorf("sent %s", got)
	}
	r = skiff("service: web\ndesiredCount: 1\ncolour: red\n", "--addr", f.URL, "apply", "-f", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "colour: unknown field") {
		t.Errorf("a YAML typo: exit code %d, stderr %q", r.code, r.stderr)
	}
	r = skiff("services: {}\n", "--addr", f.URL, "apply", "-f", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "give its path") {
		t.Errorf("a compose file on standard input: exit code %d, stderr %q", r.code, r.stderr)
	}
}

// rm --project deletes every service of the project and the secrets its
// file made that only they read, and nothing of anyone else's.
func TestRmProject(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"GET /v1/services": ok(`[{"name":"blue-db","project":"blue"},{"name":"blue-api","project":"blue"},{"name":"blue","project":""},{"name":"red-db","project":"red"}]`),
		"GET /v1/secrets": ok(`[{"name":"blue_db_password","usedBy":["blue-db"]},{"name":"blue_shared","usedBy":["blue-db","red-db"]},
			{"name":"external","usedBy":["blue-api"]},{"name":"blue_unused"}]`),
		"DELETE /v1/services/blue-db":         {status: 204},
		"DELETE /v1/services/blue-api":        {status: 204},
		"DELETE /v1/secrets/blue_db_password": {status: 204},
	})
	r := skiffAt(f, "rm", "--project", "blue")
	wantOK(t, r)
	want := []string{"GET /v1/services", "GET /v1/secrets", "DELETE /v1/services/blue-db", "DELETE /v1/services/blue-api", "DELETE /v1/secrets/blue_db_password"}
	if got := f.got(); !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
	if !strings.Contains(r.stdout, "service blue-api deleted") || !strings.Contains(r.stdout, "secret blue_db_password removed") {
		t.Errorf("stdout %q", r.stdout)
	}
	r = skiffAt(f, "rm", "--project", "green")
	if r.code != 1 || !strings.Contains(r.stderr, "project green has no services") {
		t.Errorf("an unknown project: exit code %d, stderr %q", r.code, r.stderr)
	}
}
