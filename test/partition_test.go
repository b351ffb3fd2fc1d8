package test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestClusterPartitionedLeader cuts the leader off from the other two:
// they elect a new leader that accepts writes, while the cut-off agent
// commits nothing, neither a write sent to it nor the majority's. Once the
// partition heals, the cluster has one leader again and every replica holds
// the same state: the majority's write, and not the cut-off one.
func TestClusterPartitionedLeader(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	old := c.Leader()
	ctx := context.Background()
	c.Partition(old)
	// A write sent to the old leader right after the cut: it may still
	// believe it leads and append the entry, but it cannot commit it, so
	// the write must fail.
	cutWrite := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		_, err := old.Client().ApplyService(wctx, "cut-off", svcFile("cut-off", 0, "img"))
		cutWrite <- err
	}()
	newLeader := c.Leader()
	if newLeader == old {
		t.Fatal("the cut-off agent is still the majority's leader")
	}
	t.Logf("%s cut off; %s leads the majority", old.Name, newLeader.Name)
	// Two writes, the first through the new leader's follower (or the
	// leader), the second through the other of the two.
	for i, name := range []string{"majority-1", "majority-2"} {
		if err := c.Write(ctx, i, name, svcFile(name, 0, "img"), 15*time.Second); err != nil {
			t.Fatalf("the majority refused write %s: %v", name, err)
		}
	}
	if err := <-cutWrite; err == nil {
		t.Fatal("the cut-off agent acknowledged a write")
	} else {
		t.Logf("write to the cut-off agent failed as it must: %v", err)
	}
	// The cut-off agent steps down and, for as long as the cut lasts,
	// neither leads nor sees what the majority committed.
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		h := old.Agent().Health()
		return !h.IsLeader, fmt.Sprintf("%s still leads: %+v", old.Name, h)
	})
	testutil.AssertFor(t, 2*time.Second, func() (bool, string) {
		st, h := old.Agent().State(), old.Agent().Health()
		return st.Service("majority-1") == nil && st.Service("cut-off") == nil && !h.IsLeader,
			fmt.Sprintf("cut-off %s: leads %v, majority write %v, own write %v", old.Name, h.IsLeader, st.Service("majority-1") != nil, st.Service("cut-off") != nil)
	})
	c.Heal()
	healed := c.Leader()
	t.Logf("healed; %s leads", healed.Name)
	c.EnsureSame(t)
	for _, m := range c.Alive() {
		st := m.Agent().State()
		if st.Service("majority-1") == nil || st.Service("majority-2") == nil {
			t.Errorf("%s lacks the majority's writes", m.Name)
		}
		if st.Service("cut-off") != nil {
			t.Errorf("%s has the write the cut-off leader could not commit", m.Name)
		}
	}
	// The majority marked the cut-off node down while it was gone; gossip
	// must find it again once the links are back, and the leader mark it
	// ready. Memberlist never probes a member it declared dead, so this
	// needs the ring to reconnect dead members.
	id := old.Agent().ID()
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		n := c.Leader().Agent().State().Node(id)
		return n.Status == structs.NodeReady, fmt.Sprintf("%s is %s in the leader's replica after the heal", old.Name, n.Status)
	})
}

// TestClusterLongCutOff cuts a follower off for a long time
// (SKIFF_CUTOFF_SECONDS, 10 by default, stands in for an uplink lost for
// hours): while cut off it keeps its containers running, since it cannot
// know the others gave up on it, and the majority runs their replacements.
// Once it is back the cluster ends with exactly the desired count, one
// copy of each task.
func TestClusterLongCutOff(t *testing.T) {
	secs := envInt(t, "SKIFF_CUTOFF_SECONDS", 10)
	c := testcluster.New(t, 3, 3)
	runService(t, c, "web", 6)
	var cut *testcluster.Member
	for _, m := range c.Members {
		if m != c.Leader() {
			cut = m
		}
	}
	kept := cut.Runtime.Running()
	cutID := cut.Agent().ID()
	c.Partition(cut)
	testutil.AssertFor(t, time.Duration(secs)*time.Second, func() (bool, string) {
		for id := range kept {
			if cut.Runtime.Running()[id] != 1 {
				return false, "the cut-off node stopped task " + id
			}
		}
		return true, ""
	})
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		run := 0
		for _, task := range serviceRunning(c, "web") {
			if task.Node != cutID {
				run++
			}
		}
		return run == 6, fmt.Sprintf("%d running on the majority", run)
	})
	c.Heal()
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		total := 0
		for id, n := range running(c) {
			if n > 1 {
				return false, "task " + id + " runs twice"
			}
			total += n
		}
		return total == 6 && len(serviceRunning(c, "web")) == 6, fmt.Sprintf("%d containers, %d tasks running", total, len(serviceRunning(c, "web")))
	})
	c.EnsureSame(t)
}
