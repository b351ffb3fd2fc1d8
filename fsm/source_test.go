package fsm

import (
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// TestSourcedServicesKeepTheirSource checks that ApplySourcedService
// stores the directory a replica service or a daemon was applied from,
// refuses a service without one, and that a later plain ApplyService of
// the same service, as an apply of one file by hand sends, clears it.
func TestSourcedServicesKeepTheirSource(t *testing.T) {
	f := New(nil)
	web := structs.Service{Name: "web", DesiredCount: 1, Source: "deploy"}
	mustApply(t, f, 1, CmdApplySourcedService, ApplyService{Service: web, TaskDefinition: webDef("a"), At: 1})
	if s := f.State().Service("web"); s == nil || s.Source != "deploy" || s.TaskDefinition != "web:1" {
		t.Fatalf("web after a sourced apply: %+v", s)
	}
	daemon := structs.Service{Name: "agent", SchedulingStrategy: structs.SchedulingDaemon, Source: "deploy"}
	mustApply(t, f, 2, CmdApplySourcedService, ApplyService{Service: daemon, TaskDefinition: webDef("a"), At: 2})
	if s := f.State().Service("agent"); s == nil || !s.IsDaemon() || s.Source != "deploy" {
		t.Fatalf("daemon after a sourced apply: %+v", s)
	}
	counted := daemon
	counted.DesiredCount = 2
	if _, ok := apply(t, f, 3, CmdApplySourcedService, ApplyService{Service: counted, TaskDefinition: webDef("a")}).(error); !ok {
		t.Fatal("ApplySourcedService took a daemon with a desired count")
	}
	unsourced := web
	unsourced.Source = ""
	if err, ok := apply(t, f, 4, CmdApplySourcedService, ApplyService{Service: unsourced, TaskDefinition: webDef("a")}).(error); !ok || !strings.Contains(err.Error(), "source is empty") {
		t.Fatalf("ApplySourcedService took a service without a source: %v", err)
	}
	mustApply(t, f, 5, CmdApplyService, ApplyService{Service: unsourced, TaskDefinition: webDef("a"), At: 5})
	if s := f.State().Service("web"); s.Source != "" {
		t.Fatalf("a plain apply kept the source %q", s.Source)
	}
}
