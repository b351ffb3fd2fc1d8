package test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// dataService is a service of one testapp task that adds a line to a file
// on the shared volume vol at every start and says how many it holds; the
// host directory hostDir is mounted read-only at /host.
func dataService(vol, hostDir string) []byte {
	return []byte(fmt.Sprintf(`{"service":"db","desiredCount":1,"taskDefinition":{"family":"db",
	  "volumes":[{"name":%q,"dockerVolumeConfiguration":{"scope":"shared","autoprovision":true,"driver":"local","labels":{"app":"db"}}},
	             {"name":"conf","host":{"sourcePath":%q}}],
	  "containerDefinitions":[{"name":"app","image":"skiff-testapp:latest","command":["/testapp","serve","-append","/data/starts"],"memory":32,
	    "mountPoints":[{"sourceVolume":%q,"containerPath":"/data"},{"sourceVolume":"conf","containerPath":"/host","readOnly":true}]}]}}`,
		vol, hostDir, vol))
}

// oneRunning waits for the service's one running task other than not.
func oneRunning(t *testing.T, d *dockerAgent, svc, not string) *structs.Task {
	t.Helper()
	var got *structs.Task
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		run := d.running(svc)
		if len(run) != 1 || run[0].ID == not {
			return false, fmt.Sprintf("%d running", len(run))
		}
		got = run[0]
		return true, ""
	})
	return got
}

// waitLogs waits until the task's container has logged want.
func waitLogs(t *testing.T, d *dockerAgent, id, want string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		var b bytes.Buffer
		err := d.c.Logs(context.Background(), id, "app", false, &b)
		return strings.Contains(b.String(), want), fmt.Sprintf("logs %q (%v), want %q", b.String(), err, want)
	})
}

// TestVolumeKeepsData: what a task writes to a shared volume is there for
// its replacement, and for the replacement after an agent restart; a
// read-only bind mount refuses writes; `skiff volumes` lists the volume
// with its labels; a host path the node does not allow is refused with
// the agent flag that would allow it.
func TestVolumeKeepsData(t *testing.T) {
	hostDir := t.TempDir()
	d := startTunedDockerAgent(t, func(cfg *agent.Config) { cfg.AllowHostPaths = []string{hostDir} })
	ctx := context.Background()
	vol := "skiff-e2e-" + uuid.NewString()[:8]
	if _, err := d.c.ApplyService(ctx, "db", dataService(vol, hostDir)); err != nil {
		t.Fatal(err)
	}
	task := oneRunning(t, d, "db", "")
	waitLogs(t, d, task.ID, "/data/starts holds 1 starts")

	if _, err := d.c.Stop(ctx, task.ID); err != nil {
		t.Fatal(err)
	}
	next := oneRunning(t, d, "db", task.ID)
	waitLogs(t, d, next.ID, "/data/starts holds 2 starts")

	d.restart()
	if _, err := d.c.Stop(ctx, next.ID); err != nil {
		t.Fatal(err)
	}
	after := oneRunning(t, d, "db", next.ID)
	waitLogs(t, d, after.ID, "/data/starts holds 3 starts")

	vols, err := d.c.Volumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vols) != 1 || vols[0].Name != vol || vols[0].Scope != structs.ScopeShared || vols[0].NodeName != "e2e" || vols[0].Labels["app"] != "db" {
		t.Fatalf("volumes %+v", vols)
	}

	// The read-only mount refuses the write of a one-off task.
	res, err := d.c.Run(ctx, []byte(fmt.Sprintf(`{"family":"ro","volumes":[{"name":"conf","host":{"sourcePath":%q}}],
	  "containerDefinitions":[{"name":"app","image":"skiff-testapp:latest","memory":32,"command":["/testapp","write","-path","/host/f","-text","x"],
	    "mountPoints":[{"sourceVolume":"conf","containerPath":"/host","readOnly":true}]}]}`, hostDir)), 1)
	if err != nil || len(res.Tasks) != 1 {
		t.Fatalf("run: %+v %v", res, err)
	}
	waitLogs(t, d, res.Tasks[0].ID, "read-only file system")
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		got, err := d.c.Task(ctx, res.Tasks[0].ID)
		return err == nil && got.LastStatus == structs.StatusStopped && strings.Contains(got.StopReason, "exited with code 1"),
			fmt.Sprintf("task %+v %v", got, err)
	})

	// A host path outside the allowed prefix is refused by the scheduler,
	// which names the agent flag.
	if _, err := d.c.ApplyService(ctx, "etc", []byte(`{"service":"etc","desiredCount":1,"taskDefinition":{"family":"etc",
	  "volumes":[{"name":"etc","host":{"sourcePath":"/etc"}}],
	  "containerDefinitions":[{"name":"app","image":"skiff-testapp:latest","memory":32,"mountPoints":[{"sourceVolume":"etc","containerPath":"/etc"}]}]}}`)); err != nil {
		t.Fatal(err)
	}
	want := "1 node does not allow host path /etc (agent flag --allow-host-path)"
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		svcs, err := d.c.Services(ctx)
		for _, s := range svcs {
			if s.Name == "etc" {
				return strings.Contains(s.Message, want), "message: " + s.Message
			}
		}
		return false, fmt.Sprintf("no service etc: %v", err)
	})
}
