package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// TestDiskFull runs an agent whose data dir is a 1 MiB tmpfs and writes
// until the disk is full: the write that does not fit fails with an error
// that says so, and after the disk grows the agent starts again on the
// same data dir with every acknowledged write. It needs root, to mount.
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (it needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	rt := runtime.NewFake()
	secret := newSecret(t)
	http, raftAddr, gossipAddr := testutil.Addr(t), testutil.Addr(t), testutil.Addr(t)
	start := func() *agent.Agent {
		t.Helper()
		a, err := agent.New(agent.Config{Name: "full", DataDir: dir, HTTPAddr: http, RaftAddr: raftAddr, GossipAddr: gossipAddr, Token: secret.String(),
			BootstrapExpect: 1, CPU: 4096, MemoryMiB: 4096, Runtime: rt, Logger: testutil.Logger(t), RaftLog: testutil.PrefixLogWriter(t, "full: ")})
		if err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 10*time.Second, func() (bool, string) { return a.Health().IsLeader, "waiting to lead" })
		return a
	}
	a := start()
	ctx := context.Background()
	padding := strings.Repeat("x", 32<<10)
	var acked []string
	var failure error
	for i := 0; i < 200 && failure == nil; i++ {
		name := fmt.Sprintf("svc%03d", i)
		td := &structs.TaskDefinition{Family: name, ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img", Memory: 16,
			Environment: []structs.KeyValue{{Name: "PAD", Value: padding}}}}}
		// The entry that finds the disk full may be one of the agent's own
		// (a barrier after a run of commits); the leader then steps down,
		// and a write in flight in the meantime is told there is no leader
		// without a reason yet, so a write is tried again while that
		// lasts, until it fits or is told the disk is full.
		var err error
		for try := 0; try < 20; try++ {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err = a.ApplyService(wctx, &structs.Service{Name: name}, td)
			cancel()
			if err == nil || !strings.Contains(err.Error(), "no leader") || strings.Contains(err.Error(), "no space left on device") {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			failure = err
			break
		}
		acked = append(acked, name)
	}
	if failure == nil {
		t.Fatal("200 writes of 32 KiB fitted on a 1 MiB disk")
	}
	if !strings.Contains(failure.Error(), "no space left on device") {
		t.Fatalf("the write that did not fit failed with %v, which does not say the disk is full", failure)
	}
	t.Logf("%d writes acknowledged, then: %v", len(acked), failure)
	a.Close()
	if out, err := exec.Command("mount", "-o", "remount,size=64m", dir).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v %s", err, out)
	}
	a = start()
	defer a.Close()
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		for _, name := range acked {
			if a.State().Service(name) == nil {
				return false, "acknowledged service " + name + " is missing after the restart"
			}
		}
		return true, ""
	})
	if _, err := os.Stat(dir + "/raft/raft.db"); err != nil {
		t.Fatal(err)
	}
}
