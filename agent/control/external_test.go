package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// An external service gets its desired count as unplaced tasks, which
// outlive the pending timeout; PlaceTask places one once, and a service
// that goes back to the leader's scheduler has its unplaced tasks
// replaced by placed ones.
func TestExternalServiceTasksWaitUnplaced(t *testing.T) {
	r := newFakeRaft()
	c := fsmtest.New()
	cp := New(Config{ID: "n1", BootstrapExpect: 1, Voters: 3, DownAfter: time.Second, PromoteAfter: time.Minute, RemoveAfter: time.Hour,
		PendingTimeout: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, r, noMembers{}, c.FSM, leaderOnly{r, c})
	run(t, cp)
	mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, PortMin: 1, PortMax: 2}})
	td := &structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img", Memory: 10}}}
	external := structs.Service{Name: "web", DesiredCount: 3, Scheduler: structs.SchedulerExternal}
	mustCommit(t, c, fsm.CmdApplyService, fsm.ApplyService{Service: external, TaskDefinition: td})
	r.setLeading(true)
	unplaced := func() []*structs.Task {
		var out []*structs.Task
		for _, task := range c.FSM.State().TasksByService("web") {
			if task.Unplaced() && task.Active() {
				out = append(out, task)
			}
		}
		return out
	}
	waitFor(t, "three unplaced tasks", func() bool { return len(unplaced()) == 3 })
	// Four pending timeouts pass; nothing stops or replaces the waiting
	// tasks.
	testutil.AssertFor(t, 200*time.Millisecond, func() (bool, string) {
		n, all := len(unplaced()), len(c.FSM.State().TasksByService("web"))
		return n == 3 && all == 3, fmt.Sprintf("%d unplaced of %d tasks, want the same 3", n, all)
	})
	id := unplaced()[0].ID
	placed, err := cp.PlaceTask(context.Background(), id, "n1")
	if err != nil || placed.Node != "n1" {
		t.Fatalf("place: %+v, %v", placed, err)
	}
	if _, err := cp.PlaceTask(context.Background(), id, "n1"); !errors.Is(err, structs.ErrConflict) {
		t.Fatalf("second placement: %v, want a conflict", err)
	}
	back := external
	back.Scheduler = ""
	mustCommit(t, c, fsm.CmdApplyService, fsm.ApplyService{Service: back, TaskDefinition: td})
	waitFor(t, "the unplaced tasks replaced by placed ones", func() bool {
		n := 0
		for _, task := range c.FSM.State().TasksByService("web") {
			if task.Active() && !task.Unplaced() {
				n++
			}
		}
		return len(unplaced()) == 0 && n == 3
	})
}
