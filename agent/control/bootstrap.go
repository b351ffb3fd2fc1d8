package control

import (
	"context"
	"sort"
	"time"

	"github.com/skiff-run/skiff/gossip"
)

// bootstrap forms a new cluster once BootstrapExpect agents see each other,
// checking twice a second until this node has Raft state of its own (it
// bootstrapped, was added by a leader, or restarted from its data dir).
func (c *ControlPlane) bootstrap(ctx context.Context) {
	if c.cfg.BootstrapExpect <= 1 {
		return
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var b bootstrapper
	for !b.done {
		if c.raft.LeaderID() == "" {
			b.step(ctx, c)
		} else {
			// A leader that reaches this node has added it to its
			// cluster; once that left state here, the loop is done
			// instead of waking twice a second for as long as the agent
			// runs.
			has, err := c.raft.HasState()
			b.done = err == nil && has
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// bootstrapper decides when to bootstrap. Every candidate computes the same
// voter set, the lowest node ids, so they all bootstrap the same
// configuration; the set must hold steady for a second, and no candidate
// may already know a leader.
type bootstrapper struct {
	last  string
	since time.Time
	done  bool
}

func (b *bootstrapper) step(ctx context.Context, c *ControlPlane) {
	if has, err := c.raft.HasState(); err != nil || has {
		b.done = err == nil
		return
	}
	expect := c.cfg.BootstrapExpect
	var cands []gossip.Member
	for _, m := range c.members.Members() {
		if m.Status != gossip.StatusAlive {
			continue
		}
		if m.BootstrapExpect != expect {
			c.log.Warn("member expects a different cluster size; not counting it", "member", m.Name, "expects", m.BootstrapExpect, "we expect", expect)
			continue
		}
		cands = append(cands, m)
	}
	if len(cands) < expect {
		return
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].ID < cands[j].ID })
	chosen := cands[:expect]
	key, self := "", false
	peers := map[string]string{}
	for _, m := range chosen {
		key += m.ID + "@" + m.RaftAddr + ","
		peers[m.ID] = m.RaftAddr
		self = self || m.ID == c.cfg.ID
	}
	if key != b.last {
		b.last, b.since = key, time.Now()
		return
	}
	if !self || time.Since(b.since) < time.Second {
		return
	}
	for _, m := range chosen {
		if m.ID == c.cfg.ID {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		leader, err := c.cfg.LeaderOf(pctx, m.APIAddr)
		cancel()
		if err == nil && leader != "" {
			c.log.Info("a cluster already exists; waiting to be added", "leader", leader)
			b.done = true
			return
		}
	}
	c.log.Info("bootstrapping the cluster", "voters", len(peers))
	if err := c.raft.BootstrapWith(peers); err != nil {
		c.log.Warn("bootstrap", "err", err)
	}
	b.done = true
}
