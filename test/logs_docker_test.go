package test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/command"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestLogOptionsDocker reads a container's log through the engine with
// each option: the last line only, every line after its time, nothing
// since a time to come; and skiff logs --service prints the lines of each
// of a service's tasks after the task's short id.
func TestLogOptionsDocker(t *testing.T) {
	d := startDockerAgent(t)
	ctx := context.Background()
	name := fmt.Sprintf("logs%d", time.Now().UnixNano()%100000)
	file := fmt.Sprintf(`{"service":%q,"desiredCount":2,"taskDefinition":{"family":%[1]q,"containerDefinitions":[
	  {"name":"app","image":%q,"memory":16,"command":["/testapp","serve"]},
	  {"name":"env","image":%[2]q,"memory":16,"essential":false,"command":["/testapp","env"]}]}}`, name, testImage)
	if _, err := d.c.ApplyService(ctx, name, []byte(file)); err != nil {
		t.Fatal(err)
	}
	var tasks []*structs.Task
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		tasks = d.running(name)
		return len(tasks) == 2, fmt.Sprintf("%d running", len(tasks))
	})
	id := tasks[0].ID
	read := func(opts structs.LogOptions) string {
		t.Helper()
		var b bytes.Buffer
		if err := d.c.LogsWith(ctx, id, "env", opts, &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	var all string
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		all = read(structs.LogOptions{Tail: structs.AllLines})
		return strings.Count(all, "\n") >= 3, fmt.Sprintf("the env container logged %q", all)
	})
	lines := strings.SplitAfter(strings.TrimSuffix(all, "\n"), "\n")
	if got := read(structs.LogOptions{Tail: 1}); got != lines[len(lines)-1]+"\n" && got != lines[len(lines)-1] {
		t.Errorf("tail 1 read %q, want the last line of %q", got, all)
	}
	stamped := read(structs.LogOptions{Tail: structs.AllLines, Timestamps: true})
	for _, l := range strings.Split(strings.TrimSuffix(stamped, "\n"), "\n") {
		stamp, rest, _ := strings.Cut(l, " ")
		if _, err := time.Parse(time.RFC3339Nano, stamp); err != nil || !strings.Contains(all, rest) {
			t.Errorf("a line with timestamps: %q (%v)", l, err)
		}
	}
	if got := read(structs.LogOptions{Tail: structs.AllLines, Since: time.Now().Add(time.Hour)}); got != "" {
		t.Errorf("since an hour from now read %q", got)
	}

	var out, errs bytes.Buffer
	full := []string{"skiff", "--addr", "https://" + d.a.HTTPAddr(), "--cacert", filepath.Join(d.dir, agent.CAFile),
		"--token", d.secret.ManagementToken(), "logs", "--service", name, "--container", "app"}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		out.Reset()
		errs.Reset()
		code := command.Run(full, &out, &errs)
		ok := code == 0
		for _, tk := range tasks {
			ok = ok && strings.Contains(out.String(), shortID(tk.ID)+" | listening on :8080")
		}
		return ok, fmt.Sprintf("exit %d, stdout %q, stderr %q", code, out.String(), errs.String())
	})
}
