package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/command"
	"github.com/skiff-run/skiff/internal/testutil"
)

// TestInstalledAgentRuns installs an agent with skiff install into
// temporary dirs, runs the command line its systemd unit's ExecStart
// names, as systemd would, and checks that the agent comes up with the
// flags of its config file: its API on the port install was given, a
// service applied and running on the fake runtime. SIGTERM then stops it
// cleanly.
func TestInstalledAgentRuns(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "skiff")
	build := exec.Command("go", "build", "-o", bin, "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	httpPort, raftPort, gossipPort := testutil.Port(t), testutil.Port(t), testutil.Port(t)
	var out, errs bytes.Buffer
	code := command.Run([]string{"skiff", "install", "--unit-dir", filepath.Join(dir, "units"), "--config-dir", filepath.Join(dir, "etc"),
		"--binary", bin, "--dev", "--runtime", "fake", "--data-dir", filepath.Join(dir, "data"), "--name", "installed",
		"--http-port", httpPort, "--raft-port", raftPort, "--gossip-port", gossipPort}, &out, &errs)
	if code != 0 {
		t.Fatalf("install: exit code %d\n%s%s", code, out.String(), errs.String())
	}
	unit, err := os.ReadFile(filepath.Join(dir, "units", "skiff.service"))
	if err != nil {
		t.Fatal(err)
	}
	var execStart []string
	for _, line := range strings.Split(string(unit), "\n") {
		if rest, ok := strings.CutPrefix(line, "ExecStart="); ok {
			execStart = strings.Fields(rest)
		}
	}
	if len(execStart) == 0 {
		t.Fatalf("the unit has no ExecStart:\n%s", unit)
	}
	agentProc := exec.Command(execStart[0], execStart[1:]...)
	agentProc.Stderr = testutil.PrefixLogWriter(t, "installed: ")
	if err := agentProc.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- agentProc.Wait() }()
	t.Cleanup(func() {
		_ = agentProc.Process.Kill()
		<-exited
	})
	cl := api.NewClient("127.0.0.1:"+httpPort, nil)
	ctx := context.Background()
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		h, err := cl.Health(ctx)
		if err != nil {
			return false, err.Error()
		}
		return h.Status == "ok" && h.Name == "installed", "health " + h.Status + " of " + h.Name
	})
	if _, err := cl.ApplyService(ctx, "web", []byte(gitopsFile("web", 2))); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		s, err := cl.Service(ctx, "web")
		if err != nil {
			return false, err.Error()
		}
		return s.Running == 2, fmt.Sprintf("%d of 2 tasks running", s.Running)
	})
	if err := agentProc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("the agent stopped on SIGTERM with %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("the agent did not stop within a minute of SIGTERM")
	}
}
