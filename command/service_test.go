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
)

const serviceFile = `{
  "service": "web",
  "desiredCount": 3,
  "taskDefinition": {
    "family": "web",
    "executionRoleArn": "arn:aws:iam::1:role/x",
    "containerDefinitions": [{"name": "app", "image": "skiff-testapp:latest", "memory": 32}]
  }
}`

const applyAnswer = `{"service":{"name":"web","taskDefinition":"web:1","desiredCount":3,"restartPolicy":{},"createdAt":1,"updatedAt":1},
"warnings":["taskDefinition.executionRoleArn: not acted on"]}`

func TestApplyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.json")
	if err := os.WriteFile(path, []byte(serviceFile), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFakeAPI(t, map[string]answer{"PUT /v1/services/web": ok(applyAnswer)})
	r := skiffAt(f, "apply", "--detach", "-f", path)
	if r.code != 0 || r.stdout != "service web: web:1, desired count 3\n" {
		t.Errorf("got exit code %d, stdout %q", r.code, r.stdout)
	}
	if r.stderr != "warning: taskDefinition.executionRoleArn: not acted on\n" {
		t.Errorf("stderr %q, want the warning", r.stderr)
	}
	if got := f.last(t); got.body != serviceFile {
		t.Errorf("sent %q, want the file as it is", got.body)
	}
}

func TestApplyStandardInput(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"PUT /v1/services/web": ok(applyAnswer)})
	r := skiff(serviceFile, "--addr", f.URL, "apply", "--detach", "--file", "-")
	if r.code != 0 || r.stdout != "service web: web:1, desired count 3\n" {
		t.Errorf("got exit code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := f.last(t); got.method != http.MethodPut || got.body != serviceFile {
		t.Errorf("sent %s %q, want PUT of standard input", got.method, got.body)
	}
}

// TestApplyBadFile checks that a file that does not decode is reported,
// named, before anything is sent.
func TestApplyBadFile(t *testing.T) {
	for name, content := range map[string]string{
		"not JSON":      "{",
		"unknown field": `{"service":"web","desiredCount":1,"colour":"red","taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"b"}]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeAPI(t, nil)
			r := skiff(content, "--addr", f.URL, "apply", "-f", "-")
			if r.code != 1 || !strings.HasPrefix(r.stderr, "skiff: -: ") || r.stdout != "" {
				t.Errorf("got exit code %d, stdout %q, stderr %q; want 1 and the file's error", r.code, r.stdout, r.stderr)
			}
			if got := f.got(); len(got) != 0 {
				t.Errorf("sent %q; want nothing sent", got)
			}
		})
	}
}

func TestApplyMissingFile(t *testing.T) {
	r := skiff("", "apply", "-f", filepath.Join(t.TempDir(), "none.json"))
	if r.code != 1 || !strings.Contains(r.stderr, "none.json: no such file or directory") {
		t.Errorf("got exit code %d, stderr %q", r.code, r.stderr)
	}
}

func TestApplyTooLarge(t *testing.T) {
	r := skiff(strings.Repeat(" ", 1<<20+1), "apply", "-f", "-")
	if r.code != 1 || r.stderr != "skiff: -: larger than 1048576 bytes\n" {
		t.Errorf("got exit code %d, stderr %q", r.code, r.stderr)
	}
}

func TestScale(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"POST /v1/services/web/scale": ok(`{"name":"web","taskDefinition":"web:1","desiredCount":5}`)})
	r := skiffAt(f, "scale", "--detach", "web", "5")
	wantOK(t, r)
	if r.stdout != "service web: desired count 5\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if got := f.last(t).body; got != `{"desiredCount":5}` {
		t.Errorf("sent %q", got)
	}
}

func TestRm(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"DELETE /v1/services/web": {http.StatusNoContent, ""}})
	r := skiffAt(f, "rm", "web")
	wantOK(t, r)
	if r.stdout != "service web deleted; its tasks are stopping\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if got := f.got(); !slices.Equal(got, []string{"DELETE /v1/services/web"}) {
		t.Errorf("requests %q", got)
	}
}

// A definition as describe-task-definition prints it is registered as it
// is, with the agent's warnings on standard error.
func TestTaskdefsRegister(t *testing.T) {
	const described = `{"taskDefinition": {"family": "web", "revision": 3, "containerDefinitions": [{"name": "app", "image": "skiff-testapp:latest"}]}}`
	f := newFakeAPI(t, map[string]answer{"POST /v1/taskdefs": ok(`{"taskDefinition":{"family":"web","revision":4,"containerDefinitions":[{"name":"app","image":"skiff-testapp:latest"}]},
"warnings":["taskDefinition.revision is an ECS field skiff does not act on yet; it is ignored"]}`)})
	r := skiff(described, "--addr", f.URL, "taskdefs", "register", "-f", "-")
	if r.code != 0 || r.stdout != "task definition web:4 registered\n" || !strings.Contains(r.stderr, "warning: taskDefinition.revision") {
		t.Errorf("got exit code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := f.last(t); got.method != http.MethodPost || got.body != described {
		t.Errorf("sent %s %q, want POST of the file as it is", got.method, got.body)
	}
	r = skiff(`{"family": "web", "containerDefinitions": [{"name": "app"}]}`, "--addr", f.URL, "taskdefs", "register", "-f", "-")
	if r.code == 0 || !strings.Contains(r.stderr, "containerDefinitions[0].image") {
		t.Errorf("a bad file: exit code %d, stderr %q", r.code, r.stderr)
	}
}

// The input of aws ecs create-service is a service file: it names a
// registered definition instead of holding one.
func TestApplyCreateServiceInput(t *testing.T) {
	const input = `{"cluster": "default", "serviceName": "web", "taskDefinition": "web:4", "desiredCount": 2, "launchType": "EC2"}`
	f := newFakeAPI(t, map[string]answer{"PUT /v1/services/web": ok(`{"service":{"name":"web","taskDefinition":"web:4","desiredCount":2}}`)})
	r := skiff(input, "--addr", f.URL, "apply", "--detach", "-f", "-")
	if r.code != 0 || r.stdout != "service web: web:4, desired count 2\n" {
		t.Errorf("got exit code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// A container's local environmentFiles are read when the file is applied,
// relative to the file's folder, and their variables sent as environment;
// what the container sets itself wins. An s3 file is refused.
func TestApplyReadsEnvironmentFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "web.env"), []byte("# settings\nGREETING=from the file\nPORT=8080\nEMPTY=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "web.json")
	file := `{"service": "web", "desiredCount": 1, "taskDefinition": {"family": "web", "containerDefinitions": [
	  {"name": "app", "image": "skiff-testapp:latest", "memory": 32,
	   "environment": [{"name": "GREETING", "value": "from the definition"}],
	   "environmentFiles": [{"value": "web.env"}]}]}}`
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFakeAPI(t, map[string]answer{"PUT /v1/services/web": ok(applyAnswer)})
	if r := skiffAt(f, "apply", "--detach", "-f", path); r.code != 0 {
		t.Fatalf("exit code %d, stderr %q", r.code, r.stderr)
	}
	var sent struct {
		TaskDefinition struct {
			ContainerDefinitions []struct {
				Environment      []map[string]string `json:"environment"`
				EnvironmentFiles []map[string]string `json:"environmentFiles"`
				Memory           json.Number         `json:"memory"`
			} `json:"containerDefinitions"`
		} `json:"taskDefinition"`
	}
	if err := json.Unmarshal([]byte(f.last(t).body), &sent); err != nil {
		t.Fatal(err)
	}
	cd := sent.TaskDefinition.ContainerDefinitions[0]
	want := []map[string]string{{"name": "GREETING", "value": "from the definition"}, {"name": "EMPTY", "value": ""}, {"name": "PORT", "value": "8080"}}
	if !reflect.DeepEqual(cd.Environment, want) || cd.Memory != "32" {
		t.Errorf("sent environment %v, memory %s; want %v, 32", cd.Environment, cd.Memory, want)
	}
	if cd.EnvironmentFiles != nil {
		t.Errorf("sent environment files %v, want their variables only", cd.EnvironmentFiles)
	}

	missing := strings.Replace(file, `{"value": "web.env"}`, `{"value": "nowhere.env"}`, 1)
	if err := os.WriteFile(path, []byte(missing), 0o644); err != nil {
		t.Fatal(err)
	}
	r := skiffAt(f, "apply", "-f", path)
	if r.code == 0 || !strings.Contains(r.stderr, "taskDefinition.containerDefinitions[0].environmentFiles[0].value") || !strings.Contains(r.stderr, "nowhere.env") {
		t.Errorf("a missing file: exit code %d, stderr %q", r.code, r.stderr)
	}
	s3 := strings.Replace(file, `{"value": "web.env"}`, `{"value": "arn:aws:s3:::bucket/web.env", "type": "s3"}`, 1)
	if err := os.WriteFile(path, []byte(s3), 0o644); err != nil {
		t.Fatal(err)
	}
	r = skiffAt(f, "apply", "-f", path)
	if r.code == 0 || !strings.Contains(r.stderr, "environmentFiles[0].type: s3: skiff cannot read files from S3") {
		t.Errorf("an s3 file: exit code %d, stderr %q", r.code, r.stderr)
	}
}

// A daemon has no desired count; apply says what it keeps instead.
func TestApplyDaemon(t *testing.T) {
	file := `{"service": "agent", "schedulingStrategy": "DAEMON", "taskDefinition": "agent"}`
	f := newFakeAPI(t, map[string]answer{"PUT /v1/services/agent": ok(`{"service":{"name":"agent","taskDefinition":"agent:1",
"desiredCount":0,"schedulingStrategy":"DAEMON","restartPolicy":{},"createdAt":1,"updatedAt":1}}`)})
	r := skiff(file, "--addr", f.URL, "apply", "--detach", "-f", "-")
	if want := "service agent: agent:1, one task on every eligible node that meets its constraints\n"; r.code != 0 || r.stdout != want {
		t.Errorf("got exit code %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
	}
}

// A file with a schedule goes to /v1/schedules, checked here first.
func TestApplySchedule(t *testing.T) {
	file := `{"service": "backup", "schedule": "rate(5 minutes)", "concurrency": "replace", "taskDefinition": "backup"}`
	f := newFakeAPI(t, map[string]answer{"PUT /v1/schedules/backup": ok(`{"schedule":{"name":"backup","schedule":"rate(5 minutes)",
"taskDefinition":"backup:1","concurrency":"replace"}}`)})
	r := skiff(file, "--addr", f.URL, "apply", "-f", "-")
	if want := "schedule backup: backup:1, rate(5 minutes), concurrency replace\n"; r.code != 0 || r.stdout != want {
		t.Errorf("got exit code %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
	}
	r = skiff(`{"service": "backup", "schedule": "rate(5 weeks)", "taskDefinition": "backup"}`, "--addr", f.URL, "apply", "-f", "-")
	if r.code != 1 || !strings.Contains(r.stderr, `schedule: rate: unit "weeks"`) || len(f.got()) != 1 {
		t.Errorf("a bad schedule: exit code %d, stderr %q, requests %q", r.code, r.stderr, f.got())
	}
}
