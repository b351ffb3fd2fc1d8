package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
)

// TestClusterWrongTokenCannotJoin starts an agent with another cluster's
// token that joins through a member: gossip is encrypted with a key from
// the token, so the cluster never hears it, never lists it and never gives
// it a Raft seat, and the intruder sees only itself.
func TestClusterWrongTokenCannotJoin(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	intruder, err := agent.New(agent.Config{Name: "intruder", DataDir: t.TempDir(), HTTPAddr: testutil.Addr(t), RaftAddr: testutil.Addr(t),
		GossipAddr: testutil.Addr(t), Join: []string{c.Members[0].GossipAddr}, Token: newSecret(t).String(), BootstrapExpect: 3, CPU: 1024, MemoryMiB: 1024,
		Runtime: runtime.NewFake(), ProbeInterval: 200 * time.Millisecond, ReconnectInterval: time.Second,
		Logger: testutil.Logger(t), RaftLog: testutil.PrefixLogWriter(t, "intruder: ")})
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	testutil.AssertFor(t, 5*time.Second, func() (bool, string) {
		for _, m := range c.Alive() {
			for _, mem := range m.Agent().Members() {
				if mem.ID == intruder.ID() {
					return false, fmt.Sprintf("%s lists the intruder: %+v", m.Name, mem)
				}
			}
		}
		peers, err := c.Leader().Agent().RaftPeers(t.Context())
		for _, p := range peers {
			if p.ID == intruder.ID() {
				return false, "the intruder has a Raft seat"
			}
		}
		if n := len(intruder.Members()); n != 1 {
			return false, fmt.Sprintf("the intruder sees %d members", n)
		}
		return err == nil, fmt.Sprint(err)
	})
}
