package agent

import (
	"context"
	"testing"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/structs"
)

// A service applied from a directory is committed as ApplySourcedService,
// which keeps its source, and which the leader refuses to write while a
// server of the release before it serves.
func TestSourcedServicesHaveTheirOwnCommand(t *testing.T) {
	h := newHarness(t)
	svc, err := h.a.ApplyService(context.Background(), &structs.Service{Name: "web", DesiredCount: 1, Source: "deploy"}, def("web", 10))
	if err != nil || svc.Source != "deploy" {
		t.Fatalf("apply a sourced service: %+v %v", svc, err)
	}
	peers := []raft.Peer{{ID: "a"}, {ID: "b"}}
	members := []gossip.Member{
		{Meta: gossip.Meta{ID: "a", Name: "node-a", Version: "new", Commands: int(fsm.Newest())}},
		{Meta: gossip.Meta{ID: "b", Name: "node-b", Version: "old", Commands: int(fsm.CmdSetServiceRevision)}},
	}
	if err := everyServerApplies(fsm.CmdApplySourcedService, peers, members); err == nil {
		t.Errorf("%s written while server b applies types up to %s only", fsm.CmdApplySourcedService, fsm.CmdSetServiceRevision)
	}
}
