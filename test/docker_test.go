package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

func webService(count int, greeting string) []byte {
	return []byte(fmt.Sprintf(`{
  "service": "web",
  "desiredCount": %d,
  "placementStrategy": [{"type": "spread", "field": "node"}],
  "taskDefinition": {
    "family": "web",
    "containerDefinitions": [
      {"name": "app", "image": %q, "command": ["/testapp", "serve"],
       "cpu": 64, "memory": 32, "essential": true,
       "portMappings": [{"containerPort": 8080, "hostPort": 0}],
       "environment": [{"name": "GREETING", "value": %q}]}
    ]
  }
}`, count, testImage, greeting))
}

func ids(ts []*structs.Task) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.ID)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

// containerIDs lists the containers' ids, sorted and comma-separated.
func containerIDs(cs []container.Summary) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.ID)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

// TestServiceLifecycle walks one service through the life the foundation
// promises: three labelled containers, a killed one replaced, an agent
// restart that adopts instead of duplicating, a new revision, scaling down
// to one and to zero.
func TestServiceLifecycle(t *testing.T) {
	d := startDockerAgent(t)
	ctx := context.Background()
	if _, err := d.c.ApplyService(ctx, "web", webService(3, "hi")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		n := len(d.running("web"))
		return n == 3 && len(d.containers("running")) == 3, fmt.Sprintf("%d tasks running, %d containers", n, len(d.containers("running")))
	})
	for _, c := range d.containers("running") {
		for _, l := range []string{runtime.LabelNode, runtime.LabelTask, runtime.LabelService, runtime.LabelContainer} {
			if c.Labels[l] == "" {
				t.Fatalf("container %s lacks label %s", c.Names, l)
			}
		}
		if c.Labels[runtime.LabelService] != "web" || c.Labels[runtime.LabelContainer] != "app" {
			t.Fatalf("labels %v", c.Labels)
		}
	}
	// The dynamic host port reaches the container, and the environment is
	// set.
	task := d.running("web")[0]
	if len(task.HostPorts) != 1 {
		t.Fatalf("host ports %v", task.HostPorts)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/greet", task.HostPorts[0]))
		return err == nil && strings.TrimSpace(body) == "hi", fmt.Sprintf("GET /greet: %q %v", body, err)
	})

	// Applying the same file again changes nothing.
	before := ids(d.running("web"))
	containersBefore := containerIDs(d.containers("running"))
	res, err := d.c.ApplyService(ctx, "web", webService(3, "hi"))
	if err != nil || res.Service.TaskDefinition != "web:1" {
		t.Fatalf("re-apply: %+v %v", res, err)
	}
	// Several node-loop passes (Resync is 1 s) and leader reconciles must
	// leave the same tasks in the same containers.
	testutil.AssertFor(t, 3*time.Second, func() (bool, string) {
		after, cs := ids(d.running("web")), containerIDs(d.containers("running"))
		return after == before && cs == containersBefore,
			fmt.Sprintf("re-applying the same file changed tasks %s -> %s, containers %s -> %s", before, after, containersBefore, cs)
	})

	// Kill one container: its task stops with the exit code and a new
	// task replaces it.
	victim := d.running("web")[0]
	if err := d.cli.ContainerKill(ctx, runtime.ContainerName(victim.ID, "app"), "KILL"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		run := d.running("web")
		got, err := d.c.Task(ctx, victim.ID)
		if err != nil {
			return false, err.Error()
		}
		return len(run) == 3 && !strings.Contains(ids(run), victim.ID) && got.LastStatus == structs.StatusStopped,
			fmt.Sprintf("%d running, victim %s %q", len(run), got.LastStatus, got.StopReason)
	})
	if got, _ := d.c.Task(ctx, victim.ID); !strings.Contains(got.StopReason, "exited with code 137") {
		t.Fatalf("stop reason %q", got.StopReason)
	}

	// Restart the agent: the same tasks, the same containers, nothing new,
	// neither at once nor over the next node-loop passes. Every container
	// the agent ever made counts, so that one started and stopped again in
	// between is seen too.
	before = ids(d.running("web"))
	containersBefore = containerIDs(d.containers("running"))
	allBefore := containerIDs(d.containers(""))
	d.restart()
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		after := ids(d.running("web"))
		return after == before, "tasks after restart: " + after + " want " + before
	})
	testutil.AssertFor(t, 4*time.Second, func() (bool, string) {
		after, cs, all := ids(d.running("web")), containerIDs(d.containers("running")), containerIDs(d.containers(""))
		return after == before && cs == containersBefore && all == allBefore,
			fmt.Sprintf("after the restart: tasks %s (were %s), running containers %s (were %s), all containers %s (were %s)",
				after, before, cs, containersBefore, all, allBefore)
	})

	// A changed definition registers revision 2 and replaces every task.
	res, err = d.c.ApplyService(ctx, "web", webService(3, "hello"))
	if err != nil || res.Service.TaskDefinition != "web:2" {
		t.Fatalf("apply v2: %+v %v", res, err)
	}
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		run := d.running("web")
		for _, r := range run {
			if r.TaskDefinition != "web:2" {
				return false, "old revision still running"
			}
		}
		return len(run) == 3 && len(d.containers("running")) == 3, fmt.Sprintf("%d running, %d containers", len(run), len(d.containers("running")))
	})

	// Scale to 1, then to 0.
	for _, n := range []int{1, 0} {
		if _, err := d.c.Scale(ctx, "web", n); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 60*time.Second, func() (bool, string) {
			run, cs := len(d.running("web")), len(d.containers("running"))
			return run == n && cs == n, fmt.Sprintf("scale %d: %d tasks, %d containers running", n, run, cs)
		})
	}
	if err := d.c.DeleteService(ctx, "web"); err != nil {
		t.Fatal(err)
	}
}

// TestMissingImageStopsTask checks that an image that is not local and
// cannot be pulled fails the task quickly with that reason.
func TestMissingImageStopsTask(t *testing.T) {
	d := startDockerAgent(t)
	ctx := context.Background()
	res, err := d.c.Run(ctx, []byte(`{"family":"ghost","containerDefinitions":[{"name":"ghost","image":"skiff-no-such-image:1","memory":16}]}`), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tasks) != 1 {
		t.Fatalf("run: %+v", res)
	}
	id := res.Tasks[0].ID
	start := time.Now()
	testutil.Eventually(t, 45*time.Second, func() (bool, string) {
		got, err := d.c.Task(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		return got.LastStatus == structs.StatusStopped, got.LastStatus
	})
	got, _ := d.c.Task(ctx, id)
	if !strings.Contains(got.StopReason, "not found locally and pull failed") {
		t.Fatalf("stop reason %q", got.StopReason)
	}
	t.Logf("missing image stopped the task in %s: %s", time.Since(start).Round(time.Millisecond), got.StopReason)
}

// TestDependsOnHealthyAndLinks runs a two-container task: web starts only
// once db is healthy, and reaches it by its container name.
func TestDependsOnHealthyAndLinks(t *testing.T) {
	d := startDockerAgent(t)
	ctx := context.Background()
	def := fmt.Sprintf(`{"family": "pair", "containerDefinitions": [
	  {"name": "web", "image": %[1]q, "memory": 16, "links": ["db"],
	   "command": ["/testapp", "serve", "-upstream", "http://db:8080/health"],
	   "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]},
	  {"name": "db", "image": %[1]q, "memory": 16, "essential": false,
	   "healthCheck": {"command": ["CMD", "/testapp", "probe"], "interval": 5, "timeout": 2, "retries": 3}}
	]}`, testImage)
	res, err := d.c.Run(ctx, []byte(def), 1)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Tasks[0].ID
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		got, err := d.c.Task(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		return got.LastStatus == structs.StatusRunning, got.LastStatus + " " + got.StopReason
	})
	// RUNNING means the container runs, not that it has printed yet.
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		var logs bytes.Buffer
		err := d.c.Logs(ctx, id, "web", false, &logs)
		return err == nil && strings.Contains(logs.String(), "upstream ready: http://db:8080/health"), fmt.Sprintf("web logs: %q %v", logs.String(), err)
	})
	// Stopping the task stops both containers.
	if _, err := d.c.Stop(ctx, id[len(id)-8:]); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		got, _ := d.c.Task(ctx, id)
		return got.LastStatus == structs.StatusStopped && len(d.containers("running")) == 0, got.LastStatus
	})
}

// TestBadInputCommitsNothing sends broken service files and checks that
// each gets a 4xx naming the field, and that nothing is committed.
func TestBadInputCommitsNothing(t *testing.T) {
	d := startDockerAgent(t)
	ctx := context.Background()
	cases := []struct {
		name, body, field string
		status            int
	}{
		{"malformed", `{"service": "web",`, "body", 400},
		{"typo", `{"service":"web","desiredCount":1,"taskDefinition":{"family":"web","containerDefinitons":[]}}`, "taskDefinition.containerDefinitons", 400},
		{"no image", `{"service":"web","desiredCount":1,"taskDefinition":{"family":"web","containerDefinitions":[{"name":"a"}]}}`, "taskDefinition.containerDefinitions[0].image", 400},
		{"negative memory", `{"service":"web","desiredCount":1,"taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"x","memory":-5}]}}`, "taskDefinition.containerDefinitions[0].memory", 400},
		{"absurd count", `{"service":"web","desiredCount":100000000,"taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"x"}]}}`, "desiredCount", 400},
		{"string count", `{"service":"web","desiredCount":"3","taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"x"}]}}`, "desiredCount", 400},
		{"too large", `{"service":"web","pad":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}`, "body", 413},
	}
	for _, c := range cases {
		_, err := d.c.ApplyService(ctx, "web", []byte(c.body))
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != c.status || ae.Field != c.field {
			t.Errorf("%s: got %v (%+v), want %d on %s", c.name, err, ae, c.status, c.field)
		}
	}
	svcs, err := d.c.Services(ctx)
	if err != nil || len(svcs) != 0 {
		t.Fatalf("services after bad input: %v %v", svcs, err)
	}
	defs, _ := d.c.TaskDefinitions(ctx)
	if len(defs) != 0 {
		t.Fatalf("task definitions after bad input: %v", defs)
	}
	// The ECS fields skiff ignores come back as warnings.
	ecs := `{"service":"ok","desiredCount":0,"launchType":"EC2","taskDefinition":{"family":"ok","requiresCompatibilities":["EC2"],"executionRoleArn":"arn:aws:iam::1:role/x",
	  "containerDefinitions":[{"name":"a","image":"x","memory":16,"logConfiguration":{"logDriver":"awslogs"}}]}}`
	res, err := d.c.ApplyService(ctx, "ok", []byte(ecs))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 4 {
		t.Fatalf("warnings: %q", res.Warnings)
	}
}
