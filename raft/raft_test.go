package raft

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

func openLeader(t testing.TB, dir, addr string) (*Node, *fsm.FSM) {
	t.Helper()
	f := fsm.New(nil)
	n, err := Open(Config{NodeID: "n1", DataDir: dir, BindAddr: addr, Bootstrap: true}, f)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !n.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("single node did not become leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return n, f
}

func mustEncode(t testing.TB, ct fsm.CommandType, body any) []byte {
	b, err := fsm.Encode(ct, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRestartResumesState(t *testing.T) {
	dir, addr := t.TempDir(), testutil.Addr(t)
	n, _ := openLeader(t, dir, addr)
	select {
	case isLeader := <-n.LeaderCh():
		if !isLeader {
			t.Fatal("first leadership notification is a loss")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no leadership notification")
	}
	if _, err := n.Apply(context.Background(), mustEncode(t, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", Name: "one"}}), time.Second); err != nil {
		t.Fatal(err)
	}
	// A refused command comes back as the FSM's error.
	_, err := n.Apply(context.Background(), mustEncode(t, fsm.CmdDeleteService, fsm.DeleteService{Name: "nope"}), time.Second)
	if err == nil {
		t.Fatal("deleting an unknown service was accepted")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n, f := openLeader(t, dir, addr)
	defer n.Close()
	// The log is replayed once the node leads again; Barrier waits for it.
	if err := n.Barrier(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.State().Node("n1"); got == nil || got.Name != "one" {
		t.Fatalf("state after restart: %+v", got)
	}
	if !n.CaughtUp() {
		t.Fatal("not caught up after a barrier")
	}
}

// BenchmarkCommitTaskUpdates commits task status updates through one
// bolt-backed Raft node in batches, as agents report them, and reports
// updates per second.
func BenchmarkCommitTaskUpdates(b *testing.B) {
	for _, batch := range []int{1, 100, fsm.MaxTasksPerEntry} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			n, _ := openLeader(b, b.TempDir(), testutil.Addr(b))
			defer n.Close()
			tasks := make([]structs.Task, batch)
			for i := range tasks {
				tasks[i] = structs.Task{ID: fmt.Sprintf("task-%06d", i), Service: "web", TaskDefinition: "web:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}
			}
			if _, err := n.Apply(context.Background(), mustEncode(b, fsm.CmdCommitPlan, fsm.CommitPlan{Place: tasks}), 10*time.Second); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ups := make([]fsm.TaskStatusUpdate, batch)
				for j := range ups {
					ups[j] = fsm.TaskStatusUpdate{ID: tasks[j].ID, Node: "n1", LastStatus: structs.StatusRunning, At: int64(i),
						Containers: []structs.ContainerState{{Name: "app", Status: "running"}}}
				}
				if _, err := n.Apply(context.Background(), mustEncode(b, fsm.CmdUpdateTaskStatus, fsm.UpdateTaskStatus{Updates: ups}), 10*time.Second); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "updates/s")
		})
	}
}
