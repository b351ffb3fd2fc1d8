package control

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/structs"
)

// TestStalePendingTaskIsPlacedAgain: a service's task that stays PENDING
// past PendingTimeout (its node's engine hangs) is stopped with a reason
// that says so, and a replacement is placed; a younger pending task is
// left to start.
func TestStalePendingTaskIsPlacedAgain(t *testing.T) {
	r := newFakeRaft()
	c := fsmtest.New()
	cp := New(Config{ID: "n1", BootstrapExpect: 1, Voters: 3, DownAfter: time.Second, PromoteAfter: time.Minute, RemoveAfter: time.Hour,
		PendingTimeout: time.Minute, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, r, noMembers{}, c.FSM, leaderOnly{r, c})
	run(t, cp)
	mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, PortMin: 1, PortMax: 2}})
	td := &structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img", Memory: 10}}}
	mustCommit(t, c, fsm.CmdApplyService, fsm.ApplyService{Service: structs.Service{Name: "web", DesiredCount: 2}, TaskDefinition: td})
	long := time.Now().Add(-2 * time.Minute).UnixMilli()
	mustCommit(t, c, fsm.CmdCommitPlan, fsm.CommitPlan{At: long, Place: []structs.Task{{ID: "stale", Service: "web", TaskDefinition: "web:1", Node: "n1",
		DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending, MemoryMiB: 10}}})
	mustCommit(t, c, fsm.CmdCommitPlan, fsm.CommitPlan{At: time.Now().UnixMilli(), Place: []structs.Task{{ID: "young", Service: "web", TaskDefinition: "web:1", Node: "n1",
		DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending, MemoryMiB: 10}}})
	r.setLeading(true)
	waitFor(t, "the stale task stopped and replaced", func() bool {
		st := c.FSM.State()
		return st.Task("stale").DesiredStatus == structs.StatusStopped && len(st.TasksByService("web")) == 3
	})
	st := c.FSM.State()
	if got := st.Task("stale").StopReason; !strings.Contains(got, "did not start within 1m0s") {
		t.Fatalf("stop reason %q", got)
	}
	if st.Task("young").DesiredStatus != structs.StatusRunning {
		t.Fatal("a task younger than the timeout was stopped")
	}
}
