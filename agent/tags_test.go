package agent

import (
	"context"
	"slices"
	"testing"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/structs"
)

// TestTaggedWrites: where every server runs this release, tagged services
// and definitions are written, and a definition that differs only in its
// tags is a new revision. A server of an older release, which would drop
// the tags and number revisions apart, holds them back: the gate asks for
// this build's newest command type.
func TestTaggedWrites(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	td := def("web", 10)
	if _, err := h.a.ApplyService(ctx, &structs.Service{Name: "web", DesiredCount: 1}, td); err != nil {
		t.Fatal(err)
	}
	tagged := def("web", 10)
	tagged.Tags = []structs.Tag{{Key: "team", Value: "ops"}}
	svc, err := h.a.ApplyService(ctx, &structs.Service{Name: "web", DesiredCount: 1, Tags: []structs.Tag{{Key: "env", Value: "prod"}}}, tagged)
	if err != nil || svc.TaskDefinition != "web:2" || !slices.Equal(svc.Tags, []structs.Tag{{Key: "env", Value: "prod"}}) {
		t.Fatalf("tagged apply: %+v %v: want web:2 with the service's tags", svc, err)
	}
	if got := h.a.State().TaskDefinition("web:2").Tags; !slices.Equal(got, tagged.Tags) {
		t.Fatalf("web:2 tags %v", got)
	}
	if err := h.a.tagsWritable(nil, def("plain", 10)); err != nil {
		t.Fatalf("a write without tags held back: %v", err)
	}
	peers := []raft.Peer{{ID: "a"}, {ID: "b"}}
	members := []gossip.Member{{Meta: gossip.Meta{ID: "a", Commands: int(fsm.Newest())}},
		{Meta: gossip.Meta{ID: "b", Name: "old", Version: "0.0.9", Commands: int(fsm.Newest()) - 1}}}
	if err := everyServerApplies(fsm.Newest(), peers, members); err == nil {
		t.Fatal("the newest command type written while server b applies an older set")
	}
}
