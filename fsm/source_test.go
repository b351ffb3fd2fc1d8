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

// TestSourcedServicesWithLoadBalancers checks that a service applied from
// a directory with loadBalancers meets ApplyBalancedService's checks, as
// that command's services do, and keeps both its source and its
// listeners.
func TestSourcedServicesWithLoadBalancers(t *testing.T) {
	f := New(nil)
	lb := structs.LoadBalancer{ContainerName: "app", ContainerPort: 8080, ListenerPort: 80}
	web := balanced("web", lb)
	web.Source = "deploy"
	mustApply(t, f, 1, CmdApplySourcedService, ApplyService{Service: web, TaskDefinition: servedDef("web", 8080), At: 1})
	if s := f.State().Service("web"); s == nil || s.Source != "deploy" || len(s.LoadBalancers) != 1 {
		t.Fatalf("service after a sourced apply: %+v", s)
	}
	other := balanced("api", lb)
	other.Source = "deploy"
	if err, ok := apply(t, f, 2, CmdApplySourcedService, ApplyService{Service: other, TaskDefinition: servedDef("api", 8080)}).(error); !ok ||
		!strings.Contains(err.Error(), "by service web") {
		t.Fatalf("a sourced service took web's listener: %v", err)
	}
}
