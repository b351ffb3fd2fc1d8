package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/command"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

func gitopsFile(name string, count int) string {
	return fmt.Sprintf(`{"service":%q,"desiredCount":%d,"taskDefinition":{"family":%q,
  "containerDefinitions":[{"name":"app","image":"skiff-testapp:latest","memory":16}]}}`, name, count, name)
}

// TestApplyDirectoryThroughCluster keeps a cluster's services in a
// directory, as a git checkout holds them, and drives it with the command
// line over https with the management token: applied services diff as
// unchanged, one edit diffs as exactly that change with exit code 2, and
// apply --prune after a file is removed deletes exactly that file's
// service, never one applied by hand.
func TestApplyDirectoryThroughCluster(t *testing.T) {
	c := testcluster.New(t, 1, 1)
	m := c.Leader()
	cl := m.Client()
	run := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errs bytes.Buffer
		full := append([]string{"skiff", "--addr", "https://" + m.HTTPAddr, "--cacert", filepath.Join(m.Dir, agent.CAFile),
			"--token", cl.Token}, args...)
		code := command.Run(full, &out, &errs)
		t.Logf("skiff %v: exit %d\n%s%s", args, code, out.String(), errs.String())
		return code, out.String(), errs.String()
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("web.json", gitopsFile("web", 2))
	write("old.json", gitopsFile("old", 1))
	write("api.yaml", "service: api\ndesiredCount: 1\ntaskDefinition:\n  family: api\n  containerDefinitions:\n"+
		"    - name: app\n      image: skiff-testapp:latest\n      memory: 16\n      environment:\n        - name: MODE\n          value: api\n")
	const source = "git@example.org:fleet/cluster"
	if code, _, _ := run("apply", "-f", dir, "--source", source); code != 0 {
		t.Fatalf("apply of the directory exited %d", code)
	}
	if _, err := cl.ApplyService(context.Background(), "hand", []byte(gitopsFile("hand", 1))); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"web", "old", "api", "hand"} {
		testutil.Eventually(t, 30*time.Second, func() (bool, string) {
			n := 0
			for _, tk := range m.Agent().State().TasksByService(name) {
				if tk.LastStatus == structs.StatusRunning {
					n++
				}
			}
			return n > 0, "no task of " + name + " running"
		})
	}
	if code, out, _ := run("diff", "--prune", "-f", dir, "--source", source); code != 0 || out != "no changes\n" {
		t.Fatalf("diff right after apply: exit code %d, stdout %q; want 0 and no changes", code, out)
	}
	write("web.json", gitopsFile("web", 3))
	want := fmt.Sprintf("~ service web (%s)\n    desiredCount: 2 -> 3\n0 to add, 1 to change, 0 to remove\n", filepath.Join(dir, "web.json"))
	if code, out, _ := run("diff", "-f", dir, "--source", source); code != 2 || out != want {
		t.Fatalf("diff after one edit: exit code %d, stdout\n%s\nwant 2 and\n%s", code, out, want)
	}
	if err := os.Remove(filepath.Join(dir, "old.json")); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := run("apply", "--detach", "--prune", "-f", dir, "--source", source); code != 0 {
		t.Fatalf("apply --prune exited %d", code)
	}
	st := m.Agent().State()
	if st.Service("old") != nil {
		t.Error("old, whose file was removed, is still a service")
	}
	for name, count := range map[string]int{"web": 3, "api": 1, "hand": 1} {
		if s := st.Service(name); s == nil || s.DesiredCount != count {
			t.Errorf("service %s after apply --prune: %+v; want desired count %d", name, s, count)
		}
	}
	if s := st.Service("hand"); s != nil && s.Source != "" {
		t.Errorf("hand, applied by hand, has source %q", s.Source)
	}
	if s := st.Service("web"); s != nil && s.Source != source {
		t.Errorf("web has source %q, want %q", s.Source, source)
	}
	if code, out, _ := run("diff", "--prune", "-f", dir, "--source", source); code != 0 || out != "no changes\n" {
		t.Fatalf("diff after apply --prune: exit code %d, stdout %q; want 0 and no changes", code, out)
	}
}
