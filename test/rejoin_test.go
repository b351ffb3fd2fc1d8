package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestClusterRestartedSeedRejoins kills the agent whose address everyone
// joined through and starts it again told to join only itself, as the
// seed host of the README's three-host set-up is: it must find the others
// and be alive, ready and a voter again, not cut off on its own.
func TestClusterRestartedSeedRejoins(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	seed := c.Members[0]
	id := seed.Agent().ID()
	c.Kill(seed)
	leader := c.Leader()
	testutil.Eventually(t, 15*time.Second, func() (bool, string) {
		n := leader.Agent().State().Node(id)
		return n != nil && n.Status == structs.NodeDown, fmt.Sprintf("seed in the leader's state: %+v", n)
	})
	seed.Join = []string{seed.GossipAddr}
	c.Restart(seed)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		alive := 0
		for _, m := range seed.Agent().Members() {
			if m.Status == "alive" {
				alive++
			}
		}
		n := c.Leader().Agent().State().Node(id)
		return alive == 3 && n != nil && n.Status == structs.NodeReady,
			fmt.Sprintf("the seed sees %d alive members; its node in the leader's state: %+v", alive, n)
	})
	peers, err := c.Leader().Client().RaftPeers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		if p.ID == id && !p.Voter {
			t.Fatalf("the seed lost its vote: %+v", peers)
		}
	}
	c.EnsureSame(t)
}
