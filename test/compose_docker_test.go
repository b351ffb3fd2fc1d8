package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	"github.com/google/uuid"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/command"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

const composeProject = `
services:
  db:
    image: skiff-testapp:latest
    command: [/testapp, serve, -append, /data/starts]
    healthcheck:
      test: [CMD, /testapp, probe]
      interval: 5s
      timeout: 2s
    volumes: [data:/data]
    secrets: [db_password]
  api:
    image: skiff-testapp:latest
    command: [/testapp, serve]
    depends_on:
      db: {condition: service_healthy}
  web:
    image: skiff-testapp:latest
    command: [/testapp, serve]
    depends_on: [api]
volumes:
  data: {}
secrets:
  db_password:
    file: ./db_password.txt
`

// TestComposeProject applies a compose file of three services on the real
// engine: db with a health check, a named volume and a secret, api waiting
// for db to be healthy, web for api to run. They start in that order, db's
// secret is in its environment and its volume holds its data; then
// skiff rm --project removes every service, its containers and the secret.
func TestComposeProject(t *testing.T) {
	d := startDockerAgent(t)
	ctx := context.Background()
	project := "e2e" + uuid.NewString()[:8]
	dir := t.TempDir()
	const password = "compose-pa55-91c2"
	for name, content := range map[string]string{"compose.yaml": composeProject, "db_password.txt": password + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	vol := project + "_data"
	t.Cleanup(func() { _ = d.cli.VolumeRemove(context.Background(), vol, true) })
	skiff := func(args ...string) string {
		t.Helper()
		var out, errs bytes.Buffer
		full := append([]string{"skiff", "--addr", "https://" + d.a.HTTPAddr(), "--cacert", filepath.Join(d.dir, agent.CAFile),
			"--token", d.secret.ManagementToken()}, args...)
		if code := command.Run(full, &out, &errs); code != 0 {
			t.Fatalf("skiff %v: exit %d: %s", args, code, errs.String())
		}
		t.Logf("skiff %v:\n%s%s", args, out.String(), errs.String())
		return out.String()
	}
	skiff("apply", "-f", filepath.Join(dir, "compose.yaml"), "--project", project)

	db, api, web := project+"-db", project+"-api", project+"-web"
	one := func(svc string) *structs.Task {
		t.Helper()
		var got *structs.Task
		testutil.Eventually(t, 60*time.Second, func() (bool, string) {
			ts := d.running(svc)
			if len(ts) == 1 {
				got = ts[0]
			}
			svcs, _ := d.c.Services(ctx)
			return got != nil, fmt.Sprintf("%s not running; services %+v", svc, svcs)
		})
		return got
	}
	webTask, apiTask, dbTask := one(web), one(api), one(db)

	// db became healthy before api's task was even made, and api ran
	// before web's was.
	inspect, err := d.cli.ContainerInspect(ctx, runtime.ContainerName(dbTask.ID, "db"))
	if err != nil {
		t.Fatal(err)
	}
	if inspect.State.Health == nil {
		t.Fatal("db's container has no health state")
	}
	i := slices.IndexFunc(inspect.State.Health.Log, func(r *container.HealthcheckResult) bool { return r.ExitCode == 0 })
	if i < 0 {
		t.Fatalf("db's health log %+v has no passing probe", inspect.State.Health.Log)
	}
	healthyAt := inspect.State.Health.Log[i].End
	if created := time.UnixMilli(apiTask.CreatedAt); created.Before(healthyAt) {
		t.Errorf("api's task was made at %s, before db's first passing probe at %s", created, healthyAt)
	}
	if webTask.CreatedAt < apiTask.StartedAt {
		t.Errorf("web's task was made at %d, before api's ran at %d", webTask.CreatedAt, apiTask.StartedAt)
	}
	if !slices.Contains(inspect.Config.Env, "DB_PASSWORD="+password) {
		t.Errorf("db's environment lacks its secret as DB_PASSWORD")
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		var logs bytes.Buffer
		err := d.c.Logs(ctx, dbTask.ID, "db", false, &logs)
		return err == nil && strings.Contains(logs.String(), "/data/starts holds 1 starts"), fmt.Sprintf("db's logs %q %v", logs.String(), err)
	})
	if _, err := d.cli.VolumeInspect(ctx, vol); err != nil {
		t.Errorf("the named volume: %v", err)
	}

	out := skiff("rm", "--project", project)
	for _, w := range []string{"service " + db + " deleted", "service " + api + " deleted", "service " + web + " deleted", "secret " + project + "_db_password removed"} {
		if !strings.Contains(out, w) {
			t.Errorf("rm --project printed %q, without %q", out, w)
		}
	}
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		svcs, err := d.c.Services(ctx)
		if err != nil {
			return false, err.Error()
		}
		running := d.containers("running")
		return len(svcs) == 0 && len(running) == 0, fmt.Sprintf("%d services, %d running containers", len(svcs), len(running))
	})
	secrets, err := d.c.Secrets(ctx)
	if err != nil || len(secrets) != 0 {
		t.Errorf("secrets after rm --project: %+v %v", secrets, err)
	}
	// The named volume outlives the project, as under docker compose
	// down without -v; the cleanup removes it.
	vols, err := d.cli.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("name", vol))})
	if err != nil || len(vols.Volumes) != 1 {
		t.Errorf("volumes named %s after rm: %+v %v", vol, vols.Volumes, err)
	}
}
