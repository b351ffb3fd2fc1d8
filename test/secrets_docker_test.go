package test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/command"
	"github.com/skiff-run/skiff/internal/dockertest"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
)

// TestSecretReachesTheContainer sets a secret with `skiff secret set` and
// runs a service that reads it on the real engine: the container's
// environment holds the value, and no API answer, no `skiff` output, no
// line of the agent's log (at debug, Raft's and gossip's included) and no
// file under the data dir does.
func TestSecretReachesTheContainer(t *testing.T) {
	cli := dockertest.Client(t)
	buildTestImage(t)
	var logs testutil.Buffer
	d := &dockerAgent{t: t, cli: cli, secret: newSecret(t), dir: t.TempDir(), raftAddr: testutil.Addr(t), gossipAddr: testutil.Addr(t),
		raftLog: io.MultiWriter(testutil.LogWriter(t), &logs)}
	d.log = slog.New(slog.NewTextHandler(d.raftLog, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d.start()
	id := d.a.ID()
	t.Cleanup(func() {
		if d.a != nil {
			d.a.Close()
		}
		cleanupNode(cli, id)
	})
	const value = "e2e-pa55word-7f3a"
	forms := [][]byte{[]byte(value), []byte(base64.StdEncoding.EncodeToString([]byte(value)))}
	skiff := func(args ...string) string {
		t.Helper()
		var out, errs bytes.Buffer
		full := append([]string{"skiff", "--addr", "https://" + d.a.HTTPAddr(), "--cacert", filepath.Join(d.dir, agent.CAFile),
			"--token", d.secret.ManagementToken()}, args...)
		if code := command.Run(full, &out, &errs); code != 0 {
			t.Fatalf("skiff %v: exit %d: %s", args, code, errs.String())
		}
		for _, f := range forms {
			if bytes.Contains(out.Bytes(), f) || bytes.Contains(errs.Bytes(), f) {
				t.Fatalf("skiff %v printed the secret:\n%s%s", args, out.String(), errs.String())
			}
		}
		return out.String()
	}
	input := t.TempDir()
	writeFile(t, filepath.Join(input, "pw"), value+"\n")
	skiff("secret", "set", "-f", filepath.Join(input, "pw"), "db.password")
	file := filepath.Join(input, "web.json")
	writeFile(t, file, fmt.Sprintf(`{"service": "web", "desiredCount": 1, "taskDefinition": {"family": "web", "containerDefinitions": [
	  {"name": "app", "image": %q, "command": ["/testapp", "serve"], "memory": 32, "environment": [{"name": "GREETING", "value": "hi"}], "secrets": [{"name": "DB_PASSWORD", "valueFrom": "db.password"}]}]}}`,
		testImage))
	skiff("apply", "-f", file)
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		return len(d.running("web")) == 1, "the service to run"
	})
	task := d.running("web")[0]
	// The environment a process of the container gets, as testapp prints
	// it from inside.
	env := execOutput(t, d, runtime.ContainerName(task.ID, "app"), "/testapp", "env")
	if !strings.Contains(env, "DB_PASSWORD="+value+"\n") || !strings.Contains(env, "GREETING=hi\n") {
		t.Fatalf("the container's environment:\n%s", env)
	}
	if out := skiff("secret", "ls"); !strings.Contains(out, "db.password") || !strings.Contains(out, "web") {
		t.Fatalf("secret ls:\n%s", out)
	}
	for _, args := range [][]string{{"secret", "ls", "--json"}, {"ps", "--json"}, {"ps"}, {"taskdefs", "--json"}, {"services", "--json"}, {"logs", task.ID}} {
		skiff(args...)
	}
	for _, path := range []string{"/v1/secrets", "/v1/taskdefs", "/v1/services", "/v1/tasks?all", "/v1/tasks/" + task.ID} {
		raw := getRaw(t, d.dir, d.a.HTTPAddr(), d.secret.ManagementToken(), path)
		for _, f := range forms {
			if bytes.Contains(raw, f) {
				t.Fatalf("GET %s gives the secret away: %s", path, raw)
			}
		}
	}
	snap := persisted(t, d.a)
	for _, f := range forms {
		if bytes.Contains(snap, f) {
			t.Fatal("a snapshot holds the secret's value")
		}
		if bytes.Contains(logs.Bytes(), f) {
			t.Fatal("the agent logged the secret's value")
		}
	}
	// Closing the agent syncs what Raft keeps to the data dir first.
	if err := d.a.Close(); err != nil {
		t.Fatal(err)
	}
	d.a = nil
	noValueUnder(t, d.dir, forms)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// execOutput runs cmd in a running container and returns its output.
func execOutput(t *testing.T, d *dockerAgent, name string, cmd ...string) string {
	t.Helper()
	ctx := context.Background()
	ex, err := d.cli.ContainerExecCreate(ctx, name, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	att, err := d.cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	var out, errs bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errs, att.Reader); err != nil {
		t.Fatal(err)
	}
	return out.String() + errs.String()
}
