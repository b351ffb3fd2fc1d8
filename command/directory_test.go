package command

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

func dirServiceFile(name string, count int) string {
	return `{"service":"` + name + `","desiredCount":` + strconv.Itoa(count) + `,
  "taskDefinition":{"family":"` + name + `","containerDefinitions":[{"name":"app","image":"skiff-testapp:latest","memory":32}]}}`
}

const apiYAML = `service: api
desiredCount: 1
taskDefinition:
  family: api
  containerDefinitions:
    - name: app
      image: skiff-testapp:latest
      memory: 32
`

// deployDir writes a directory of two service files, web.json (web, 3
// tasks) and api.yaml (api, 1 task), and returns its path.
func deployDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "deploy")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"web.json": dirServiceFile("web", 3), "api.yaml": apiYAML, "README.md": "not a service file"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// remoteService is the service the agent would hold after the file was
// applied from source, as GET /v1/services lists it, and its definition.
func remoteService(t *testing.T, file, source string) (api.ServiceStatus, *structs.TaskDefinition) {
	t.Helper()
	raw, err := withSource([]byte(file), source)
	if err != nil {
		t.Fatal(err)
	}
	svc, td, _, err := api.DecodeServiceFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	td.Revision = 1
	svc.TaskDefinition, svc.CreatedAt, svc.UpdatedAt = td.Ref(), 5, 6
	return api.ServiceStatus{Service: *svc}, td
}

// clusterAnswers is an agent that holds web with 2 tasks and api as they
// were applied from dir, old, which was applied from dir and whose file is
// gone since, and hand, applied by hand.
func clusterAnswers(t *testing.T, dir string) map[string]answer {
	t.Helper()
	src, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	var svcs []api.ServiceStatus
	var defs []*structs.TaskDefinition
	for _, s := range []struct{ file, source string }{
		{dirServiceFile("web", 2), src}, {apiYAML, src}, {dirServiceFile("old", 1), src}, {dirServiceFile("hand", 1), ""},
	} {
		file := s.file
		if !strings.HasPrefix(file, "{") {
			_, j, err := fileKind([]byte(file))
			if err != nil {
				t.Fatal(err)
			}
			file = string(j)
		}
		svc, td := remoteService(t, file, s.source)
		svcs = append(svcs, svc)
		defs = append(defs, td)
	}
	js := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return map[string]answer{
		"GET /v1/services": ok(js(svcs)), "GET /v1/taskdefs": ok(js(defs)), "GET /v1/secrets": ok(`[]`),
		"PUT /v1/services/web":    ok(`{"service":{"name":"web","taskDefinition":"web:2","desiredCount":3,"restartPolicy":{},"createdAt":5,"updatedAt":7}}`),
		"DELETE /v1/services/old": {status: 204},
	}
}

// TestDiffDirectory checks that diff on a directory after one edit prints
// exactly that change and exits 2, names a service whose file is gone as
// removed only with --prune, and changes nothing.
func TestDiffDirectory(t *testing.T) {
	dir := deployDir(t)
	f := newFakeAPI(t, clusterAnswers(t, dir))
	web := filepath.Join(dir, "web.json")
	r := skiffAt(f, "diff", "-f", dir)
	want := "~ service web (" + web + ")\n    desiredCount: 2 -> 3\n0 to add, 1 to change, 0 to remove\n"
	if r.code != diffChanged || r.stdout != want {
		t.Errorf("diff: exit code %d, stdout\n%s\nwant %d and\n%s", r.code, r.stdout, diffChanged, want)
	}
	if !strings.Contains(r.stderr, "service old was applied from "+dir+", which no longer holds it") || strings.Contains(r.stderr, "hand") {
		t.Errorf("diff: stderr %q, want a warning about old alone", r.stderr)
	}
	r = skiffAt(f, "diff", "--prune", "-f", dir)
	want = "~ service web (" + web + ")\n    desiredCount: 2 -> 3\n- service old\n0 to add, 1 to change, 1 to remove\n"
	if r.code != diffChanged || r.stdout != want || r.stderr != "" {
		t.Errorf("diff --prune: exit code %d, stdout\n%s\nstderr %q; want %d and\n%s", r.code, r.stdout, r.stderr, diffChanged, want)
	}
	for _, got := range f.got() {
		if !strings.HasPrefix(got, "GET ") {
			t.Errorf("diff sent %s; want reads only", got)
		}
	}
	// A directory that matches the cluster has nothing to show.
	if err := os.WriteFile(web, []byte(dirServiceFile("web", 2)), 0o644); err != nil {
		t.Fatal(err)
	}
	r = skiffAt(f, "diff", "-f", dir, "--source", mustAbs(t, dir))
	if r.code != 0 || r.stdout != "no changes\n" {
		t.Errorf("diff of an unchanged directory: exit code %d, stdout %q; want 0 and no changes", r.code, r.stdout)
	}
}

// TestDiffNewServiceAndFieldPaths checks that a service the agent does
// not have is shown as added, and that a change inside the definition is
// named by its path.
func TestDiffNewServiceAndFieldPaths(t *testing.T) {
	dir := deployDir(t)
	f := newFakeAPI(t, clusterAnswers(t, dir))
	if err := os.WriteFile(filepath.Join(dir, "api.yaml"), []byte(strings.Replace(apiYAML, "memory: 32", "memory: 64", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "db.json"), []byte(dirServiceFile("db", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := skiffAt(f, "diff", "-f", filepath.Join(dir, "api.yaml"))
	want := "~ service api (" + filepath.Join(dir, "api.yaml") + ")\n    source: \"" + mustAbs(t, dir) + "\" -> (none)\n" +
		"    taskDefinition.containerDefinitions[0].memory: 32 -> 64\n0 to add, 1 to change, 0 to remove\n"
	if r.code != diffChanged || r.stdout != want {
		t.Errorf("diff of one file: exit code %d, stdout\n%s\nwant\n%s", r.code, r.stdout, want)
	}
	r = skiffAt(f, "diff", "-f", dir)
	if r.code != diffChanged || !strings.HasPrefix(r.stdout, "+ service db ("+filepath.Join(dir, "db.json")+")\n") ||
		!strings.Contains(r.stdout, "1 to add, 2 to change, 0 to remove") {
		t.Errorf("diff: exit code %d, stdout\n%s", r.code, r.stdout)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestApplyDirectoryPrune checks that apply --prune of a directory sends
// the changed service only, deletes exactly the service whose file was
// removed and no service applied by hand, and records the directory as
// the source of what it applies.
func TestApplyDirectoryPrune(t *testing.T) {
	dir := deployDir(t)
	f := newFakeAPI(t, clusterAnswers(t, dir))
	r := skiffAt(f, "apply", "--detach", "--prune", "-f", dir)
	wantOut := "service api: unchanged\nservice web: web:2, desired count 3\nservice old deleted (no longer in " + dir + "); its tasks are stopping\n"
	if r.code != 0 || r.stdout != wantOut || r.stderr != "" {
		t.Fatalf("apply --prune: exit code %d, stdout\n%s\nstderr %q; want 0 and\n%s", r.code, r.stdout, r.stderr, wantOut)
	}
	var writes []string
	for _, got := range f.got() {
		if !strings.HasPrefix(got, "GET ") {
			writes = append(writes, got)
		}
	}
	if want := []string{"PUT /v1/services/web", "DELETE /v1/services/old"}; !slices.Equal(writes, want) {
		t.Errorf("writes %q, want %q", writes, want)
	}
	var sent map[string]any
	for _, req := range f.requests {
		if req.method == "PUT" {
			if err := json.Unmarshal([]byte(req.body), &sent); err != nil {
				t.Fatal(err)
			}
		}
	}
	if sent["source"] != mustAbs(t, dir) {
		t.Errorf("sent source %v, want %s", sent["source"], mustAbs(t, dir))
	}
}

// TestApplyDirectoryBadFile checks that one bad file in a directory stops
// the apply before anything is sent, naming the file and the field.
func TestApplyDirectoryBadFile(t *testing.T) {
	dir := deployDir(t)
	bad := filepath.Join(dir, "worker.json")
	if err := os.WriteFile(bad, []byte(strings.Replace(dirServiceFile("worker", 1), `"desiredCount":1`, `"desiredCount":-1`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFakeAPI(t, clusterAnswers(t, dir))
	for _, cmd := range []string{"apply", "diff"} {
		r := skiffAt(f, cmd, "-f", dir)
		if r.code != 1 || r.stderr != "skiff: "+bad+": desiredCount: -1 is out of range: expected 0 to 100000\n" {
			t.Errorf("%s: exit code %d, stderr %q; want 1 and the file's error", cmd, r.code, r.stderr)
		}
	}
	if got := f.got(); len(got) != 0 {
		t.Errorf("sent %q; want nothing sent", got)
	}
}

// TestApplyDirectoryRefusals checks the inputs a directory apply refuses:
// two files of one service, a file that names another source, a missing
// definition reference, and --prune without a directory.
func TestApplyDirectoryRefusals(t *testing.T) {
	write := func(t *testing.T, dir, name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		file, content, want string
	}{
		"duplicate": {"web2.json", dirServiceFile("web", 1), "web2.json: service web is also in "},
		"source":    {"db.json", strings.Replace(dirServiceFile("db", 1), `{`, `{"source":"elsewhere",`, 1), `db.json: source: "elsewhere", but the file is applied from the directory`},
		"reference": {"db.json", `{"service":"db","desiredCount":1,"taskDefinition":"db:4"}`, `db.json: taskDefinition: "db:4" is not a registered task definition`},
	} {
		t.Run(name, func(t *testing.T) {
			dir := deployDir(t)
			write(t, dir, tc.file, tc.content)
			f := newFakeAPI(t, clusterAnswers(t, dir))
			r := skiffAt(f, "apply", "--detach", "-f", dir)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit code %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
			}
			for _, got := range f.got() {
				if !strings.HasPrefix(got, "GET ") {
					t.Errorf("sent %s; want nothing written", got)
				}
			}
		})
	}
	dir := deployDir(t)
	r := skiff("", "apply", "--prune", "-f", filepath.Join(dir, "web.json"))
	if r.code != 1 || !strings.Contains(r.stderr, "--prune applies to a directory of service files") {
		t.Errorf("--prune with a file: exit code %d, stderr %q", r.code, r.stderr)
	}
}

// TestDiffDirectoryWithComposeFile checks that a compose file in a
// directory contributes its services, named as compose names them, with
// the directory as their source.
func TestDiffDirectoryWithComposeFile(t *testing.T) {
	dir := deployDir(t)
	compose := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(compose, []byte("services:\n  cache:\n    image: skiff-testapp:latest\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	answers := clusterAnswers(t, dir)
	answers["PUT /v1/services/deploy-cache"] = ok(`{"service":{"name":"deploy-cache","taskDefinition":"deploy-cache:1","desiredCount":1,"restartPolicy":{},"createdAt":7,"updatedAt":7}}`)
	f := newFakeAPI(t, answers)
	r := skiffAt(f, "diff", "-f", dir)
	if r.code != diffChanged || !strings.HasPrefix(r.stdout, "+ service deploy-cache ("+compose+": services.cache)\n") {
		t.Fatalf("diff: exit code %d, stdout\n%s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if r = skiffAt(f, "apply", "--detach", "-f", dir); r.code != 0 {
		t.Fatalf("apply: exit code %d, stderr %q", r.code, r.stderr)
	}
	for _, req := range f.requests {
		if req.method == "PUT" && strings.HasSuffix(req.uri, "/deploy-cache") {
			var sent map[string]any
			if err := json.Unmarshal([]byte(req.body), &sent); err != nil {
				t.Fatal(err)
			}
			if sent["source"] != mustAbs(t, dir) || sent["project"] != "deploy" {
				t.Errorf("sent source %v, project %v; want %s and deploy", sent["source"], sent["project"], mustAbs(t, dir))
			}
			return
		}
	}
	t.Errorf("no PUT of deploy-cache among %q", f.got())
}
