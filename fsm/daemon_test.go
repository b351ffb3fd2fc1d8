package fsm

import (
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// TestDaemonServicesHaveTheirOwnCommand checks that a daemon is written
// only by ApplyDaemonService, which an older replica refuses to replay
// rather than misread, and that it has no desired count to set or scale.
func TestDaemonServicesHaveTheirOwnCommand(t *testing.T) {
	f := New(nil)
	daemon := structs.Service{Name: "agent", SchedulingStrategy: structs.SchedulingDaemon}
	if err, ok := apply(t, f, 1, CmdApplyService, ApplyService{Service: daemon, TaskDefinition: webDef("a")}).(error); !ok || !strings.Contains(err.Error(), "replica services only") {
		t.Fatalf("ApplyService took a daemon: %v", err)
	}
	replica := structs.Service{Name: "web", DesiredCount: 1}
	if _, ok := apply(t, f, 2, CmdApplyDaemonService, ApplyService{Service: replica, TaskDefinition: webDef("a")}).(error); !ok {
		t.Fatal("ApplyDaemonService took a replica service")
	}
	counted := daemon
	counted.DesiredCount = 2
	if _, ok := apply(t, f, 3, CmdApplyDaemonService, ApplyService{Service: counted, TaskDefinition: webDef("a")}).(error); !ok {
		t.Fatal("ApplyDaemonService took a desired count")
	}
	mustApply(t, f, 4, CmdApplyDaemonService, ApplyService{Service: daemon, TaskDefinition: webDef("a"), At: 1})
	if s := f.State().Service("agent"); s == nil || !s.IsDaemon() || s.TaskDefinition != "web:1" {
		t.Fatalf("daemon after apply: %+v", s)
	}
	if err, ok := apply(t, f, 5, CmdScaleService, ScaleService{Name: "agent", DesiredCount: 3}).(error); !ok || !strings.Contains(err.Error(), "daemon") {
		t.Fatalf("scaling a daemon: %v", err)
	}
	if s := f.State().Service("agent"); s.DesiredCount != 0 {
		t.Fatalf("a refused scale changed the daemon: %+v", s)
	}
}
