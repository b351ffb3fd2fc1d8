package agent

import (
	"context"
	"testing"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/structs"
)

// A daemon applied through the backend is committed as ApplyDaemonService
// and runs one task on the agent's node; a schedule applied is stored with
// its definition registered.
func TestBackendAppliesDaemonsAndSchedules(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	svc, err := h.a.ApplyService(ctx, &structs.Service{Name: "agent", SchedulingStrategy: structs.SchedulingDaemon}, def("agent", 10))
	if err != nil || !svc.IsDaemon() {
		t.Fatalf("apply a daemon: %+v %v", svc, err)
	}
	h.wait("the daemon's task running", func(st *fsm.State) bool {
		r := running(st, "agent")
		return len(r) == 1 && r[0].Node == h.a.ID()
	})
	s, err := h.a.ApplySchedule(ctx, &structs.Schedule{Name: "backup", Expression: "rate(1 day)", Concurrency: structs.ConcurrencyAllow}, def("backup", 10))
	if err != nil || s.TaskDefinition != "backup:1" {
		t.Fatalf("apply a schedule: %+v %v", s, err)
	}
	if err := h.a.DeleteSchedule(ctx, "backup"); err != nil || h.a.State().Schedule("backup") != nil {
		t.Fatalf("delete the schedule: %v", err)
	}
}

// A server of the release before daemons and schedules cannot apply
// their commands, so the leader refuses to write them while one serves.
func TestDaemonAndScheduleCommandsWaitForEveryServer(t *testing.T) {
	peers := []raft.Peer{{ID: "a"}, {ID: "b"}}
	member := func(id string, cmds int) gossip.Member {
		return gossip.Member{Meta: gossip.Meta{ID: id, Name: "node-" + id, Version: "v-" + id, Commands: cmds}}
	}
	older := int(fsm.CmdResealSecrets)
	for _, ct := range []fsm.CommandType{fsm.CmdApplyDaemonService, fsm.CmdApplySchedule, fsm.CmdRecordScheduleRun} {
		if err := everyServerApplies(ct, peers, []gossip.Member{member("a", int(fsm.Newest())), member("b", older)}); err == nil {
			t.Errorf("%s written while server b applies types up to %s only", ct, fsm.CmdResealSecrets)
		}
	}
}
