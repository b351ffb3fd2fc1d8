package agent

import (
	"errors"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/raft"
)

func TestNewCommandsWaitForEveryServer(t *testing.T) {
	peers := []raft.Peer{{ID: "a"}, {ID: "b"}}
	member := func(id string, cmds int) gossip.Member {
		return gossip.Member{Meta: gossip.Meta{ID: id, Name: "node-" + id, Version: "v-" + id, Commands: cmds}}
	}
	newest := int(fsm.Newest())
	if err := everyServerApplies(fsm.CmdScaleService, peers, []gossip.Member{member("a", newest), member("b", newest)}); err != nil {
		t.Fatalf("all servers current: %v", err)
	}
	// b is an older release that says nothing: it knows the baseline.
	err := everyServerApplies(fsm.CmdScaleService, peers, []gossip.Member{member("a", newest), member("b", 0)})
	if !errors.Is(err, api.ErrUnavailable) || !strings.Contains(err.Error(), "node-b runs skiff v-b") {
		t.Fatalf("old server: %v", err)
	}
	if err := everyServerApplies(fsm.Baseline, peers, []gossip.Member{member("b", 0)}); err != nil {
		t.Fatalf("baseline command refused: %v", err)
	}
	// A member that is not a Raft server has no say.
	if err := everyServerApplies(fsm.CmdScaleService, peers[:1], []gossip.Member{member("a", newest), member("b", 0)}); err != nil {
		t.Fatalf("non-server blocked a command: %v", err)
	}
}
