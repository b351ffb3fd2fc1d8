package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/command"
	"github.com/skiff-run/skiff/structs"
)

// rollService is a service of three testapp servers on dynamic host
// ports; command replaces the server's when set.
func rollService(greeting string, command ...string) []byte {
	cmd := `["/testapp", "serve"]`
	if len(command) > 0 {
		cmd = `["` + strings.Join(command, `", "`) + `"]`
	}
	return []byte(fmt.Sprintf(`{"service": "roll", "desiredCount": 3,
  "taskDefinition": {"family": "roll", "containerDefinitions": [
    {"name": "app", "image": %q, "command": %s, "memory": 32, "essential": true, "stopTimeout": 5,
     "portMappings": [{"containerPort": 8080, "hostPort": 0}],
     "environment": [{"name": "GREETING", "value": %q}]}]}}`, testImage, cmd, greeting))
}

// skiffCLI runs the command line against the agent and returns its exit
// code, standard output and standard error.
func skiffCLI(t *testing.T, d *dockerAgent, args ...string) (int, string, string) {
	t.Helper()
	var out, errs bytes.Buffer
	full := append([]string{"skiff", "--addr", "https://" + d.a.HTTPAddr(), "--cacert", filepath.Join(d.dir, agent.CAFile),
		"--token", d.secret.ManagementToken()}, args...)
	code := command.Run(full, &out, &errs)
	t.Logf("skiff %v: exit %d\n%s%s", args, code, out.String(), errs.String())
	return code, out.String(), errs.String()
}

func rollFile(t *testing.T, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "roll.json")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A client that polls every healthy endpoint the cluster publishes for a
// service, on its host port, throughout a rolling deployment sees no
// failed request: old tasks stop only once new ones answer. The endpoints
// are what DNS and the ingress route to; a task only just running is not
// among them, since its program may not listen yet. A request counts as
// failed unless the cluster had already asked its task to stop by the
// time it failed, which is when a client that follows the endpoints would
// stop sending to it.
func TestDeploymentLosesNoRequest(t *testing.T) {
	d := startDockerAgent(t)
	if code, _, _ := skiffCLI(t, d, "apply", "-f", rollFile(t, rollService("one"))); code != 0 {
		t.Fatalf("first apply exited %d", code)
	}
	// A new service's apply returns once its tasks run; they are served,
	// and polled, once healthy.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		eps, err := d.c.Endpoints(context.Background(), "roll", nil, 0)
		healthy := 0
		for _, ep := range eps.Endpoints {
			if ep.Healthy {
				healthy++
			}
		}
		if err == nil && healthy == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoints of the first revision: %d healthy, error %v; want 3 healthy within 30 s", healthy, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	seen := map[string]int{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			ok := 0
			eps, err := d.c.Endpoints(ctx, "roll", nil, 0)
			if err != nil {
				if ctx.Err() == nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("endpoints: %v", err))
					mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			for _, ep := range eps.Endpoints {
				if !ep.Healthy {
					continue
				}
				body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/greet", ep.HostPort))
				if err == nil {
					ok++
					mu.Lock()
					seen[strings.TrimSpace(body)]++
					mu.Unlock()
					continue
				}
				if now, gerr := d.c.Task(context.Background(), ep.TaskID); gerr == nil && now.DesiredStatus == structs.StatusRunning {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("task %s (%s), still wanted: %v", ep.TaskID, now.TaskDefinition, err))
					mu.Unlock()
				}
			}
			if ok == 0 {
				mu.Lock()
				failures = append(failures, "no task answered")
				mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	code, out, _ := skiffCLI(t, d, "apply", "-f", rollFile(t, rollService("two")))
	cancel()
	wg.Wait()
	if code != 0 || !strings.Contains(out, "COMPLETED") {
		t.Errorf("apply of the new revision exited %d, output %q: want 0 and the deployment COMPLETED", code, out)
	}
	for _, f := range failures {
		t.Error(f)
	}
	if seen["one"] == 0 || seen["two"] == 0 {
		t.Errorf("answers %v: want both revisions seen during the deployment", seen)
	}
}

// A revision whose container exits at once trips the circuit breaker:
// the service rolls back to the revision before, and `skiff apply` exits
// non-zero naming why.
func TestBadRevisionRollsBack(t *testing.T) {
	d := startDockerAgent(t)
	if code, _, _ := skiffCLI(t, d, "apply", "-f", rollFile(t, rollService("one"))); code != 0 {
		t.Fatalf("first apply exited %d", code)
	}
	code, _, errs := skiffCLI(t, d, "apply", "-f", rollFile(t, rollService("bad", "/testapp", "no-such-mode")))
	if code == 0 || !strings.Contains(errs, "rolled back") || !strings.Contains(errs, "exit") {
		t.Errorf("apply of a crashing revision: exit %d, stderr %q: want non-zero, naming the rollback and the exit", code, errs)
	}
	svc, err := d.c.Service(context.Background(), "roll")
	if err != nil {
		t.Fatal(err)
	}
	if svc.TaskDefinition != "roll:1" {
		t.Errorf("service runs %s, want roll:1 after the rollback", svc.TaskDefinition)
	}
	code, out, _ := skiffCLI(t, d, "deployments", "roll")
	if code != 0 || !strings.Contains(out, "ROLLED_BACK") {
		t.Errorf("skiff deployments: exit %d, %q: want the ROLLED_BACK deployment", code, out)
	}
}
