package agent

import (
	"context"
	"errors"
	"testing"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/structs"
)

// A service with loadBalancers goes through the backend as
// ApplyBalancedService, which keeps them; one whose listener another
// service holds is refused as a conflict. A leader writes the command only
// once every server applies it.
func TestBackendAppliesBalancedServices(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	served := def("web", 10)
	served.ContainerDefinitions[0].PortMappings = []structs.PortMapping{{ContainerPort: 8080}}
	lbs := []structs.LoadBalancer{{ContainerName: "app", ContainerPort: 8080, ListenerPort: 18080, Protocol: structs.ProtocolTCP}}
	svc, err := h.a.ApplyService(ctx, &structs.Service{Name: "web", DesiredCount: 1, LoadBalancers: lbs}, served)
	if err != nil || len(svc.LoadBalancers) != 1 {
		t.Fatalf("apply a balanced service: %+v %v", svc, err)
	}
	other := *served
	other.Family = "api"
	if _, err := h.a.ApplyService(ctx, &structs.Service{Name: "api", DesiredCount: 1, LoadBalancers: lbs}, &other); !errors.Is(err, structs.ErrConflict) {
		t.Fatalf("a second tcp service on port 18080: %v", err)
	}

	peers := []raft.Peer{{ID: "a"}, {ID: "b"}}
	members := []gossip.Member{{Meta: gossip.Meta{ID: "a", Commands: int(fsm.Newest())}},
		{Meta: gossip.Meta{ID: "b", Name: "node-b", Commands: int(fsm.CmdSetServiceRevision)}}}
	if err := everyServerApplies(fsm.CmdApplyBalancedService, peers, members); err == nil {
		t.Errorf("ApplyBalancedService written while server b applies types up to %s only", fsm.CmdSetServiceRevision)
	}
}
