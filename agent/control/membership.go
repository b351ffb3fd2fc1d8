package control

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/structs"
)

// membershipLoop turns gossip's verdicts into Raft membership changes and
// node statuses. While any member or node is short of healthy, every rule
// may come due with time alone (a member dead for long enough), so it runs
// after every membership change and twice a second. Once every member is
// alive, in Raft and its node ready, no rule can come due before gossip
// changes or a node's record does (its engine failing is reported through
// the state), so a quiet cluster's leader waits for those alone instead of
// waking twice a second for nothing.
func (c *ControlPlane) membershipLoop(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	// The loop runs for one term; a member gossip has not heard of since
	// the term began counts as dead from then on.
	termStart := time.Now()
	for {
		nodesAt := c.state.State().NodesChangedAt()
		errMembers := c.reconcileMembers(ctx, termStart)
		if errMembers != nil && ctx.Err() == nil {
			c.log.Warn("membership", "err", errMembers)
		}
		errHealth := c.reconcileNodeHealth(ctx, termStart)
		if errHealth != nil && ctx.Err() == nil {
			c.log.Warn("node health", "err", errHealth)
		}
		if errMembers == nil && errHealth == nil && c.quiet() {
			if !c.waitForChange(ctx, nodesAt) {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-c.members.Changed():
		case <-tick.C:
		}
	}
}

// quiet reports whether no membership or node health rule can come due
// with time alone: every gossip member is alive, proven and a Raft peer,
// every Raft peer an alive member, and every node ready with an engine that
// answers.
func (c *ControlPlane) quiet() bool {
	if len(c.unproven) > 0 {
		return false
	}
	peers, err := c.raft.Peers()
	if err != nil {
		return false
	}
	alive := map[string]bool{}
	for _, m := range c.members.Members() {
		if m.Status != gossip.StatusAlive {
			return false
		}
		alive[m.ID] = true
	}
	inRaft := map[string]bool{}
	for _, p := range peers {
		if p.ID != c.cfg.ID && !alive[p.ID] {
			return false
		}
		inRaft[p.ID] = true
	}
	for id := range alive {
		if !inRaft[id] {
			return false
		}
	}
	for _, n := range c.state.State().Nodes() {
		if n.Status != structs.NodeReady || n.EngineError != "" || n.ID != c.cfg.ID && !alive[n.ID] {
			return false
		}
	}
	return true
}

// waitForChange returns true once gossip's membership changes or a node's
// record has changed since the nodes index nodesAt, and false when ctx
// ends. Other state changes (every task's) wake it only to look at the
// index.
func (c *ControlPlane) waitForChange(ctx context.Context, nodesAt uint64) bool {
	for {
		watch := c.state.Watch()
		if c.state.State().NodesChangedAt() != nodesAt {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-c.members.Changed():
			return true
		case <-watch:
		}
	}
}

// reconcileMembers keeps the Raft configuration in line with gossip:
// new members join (as voters while there are fewer than the target, else
// as non-voters), moved members get their new address, a voter dead for
// longer than PromoteAfter is replaced by a healthy non-voter, and members
// that left, or stayed dead past RemoveAfter, are removed. A member is
// added or moved only once it has proven its id at its Raft address. A
// Raft peer that gossip has not heard of at all (after a power cut, gossip
// starts empty, and a host that never came back is never heard) counts as
// dead since termStart, so that it is replaced and removed like any other.
func (c *ControlPlane) reconcileMembers(ctx context.Context, termStart time.Time) error {
	peers, err := c.raft.Peers()
	if err != nil {
		return err
	}
	members := map[string]gossip.Member{}
	alive := 0
	for _, m := range c.members.Members() {
		members[m.ID] = m
		if m.Status == gossip.StatusAlive {
			alive++
		}
	}
	byID := map[string]raft.Peer{}
	voters := 0
	for _, p := range peers {
		byID[p.ID] = p
		if p.Voter {
			voters++
		}
	}
	target := min(c.cfg.Voters, alive)
	var errs []error
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	unproven := map[proofKey]bool{}
	proven := func(m gossip.Member) bool {
		if err := c.prove(ctx, m); err != nil {
			k := proofKey{m.ID, m.RaftAddr}
			unproven[k] = true
			if !c.unproven[k] && ctx.Err() == nil {
				c.log.Warn("member did not prove its id at its Raft address; Raft membership left as it is",
					"member", m.Name, "id", m.ID, "addr", m.RaftAddr, "err", err)
			}
			return false
		}
		return true
	}
	for _, id := range ids {
		m := members[id]
		if m.Status != gossip.StatusAlive || id == c.cfg.ID {
			continue
		}
		p, known := byID[id]
		switch {
		case (!known || p.Address != m.RaftAddr) && !proven(m):
			// Left out until a later round's proof succeeds.
		case !known && voters < target:
			c.log.Info("adding voter", "member", m.Name, "addr", m.RaftAddr)
			errs = append(errs, c.raft.AddVoter(id, m.RaftAddr))
			voters++
		case !known:
			c.log.Info("adding non-voter", "member", m.Name, "addr", m.RaftAddr)
			errs = append(errs, c.raft.AddNonvoter(id, m.RaftAddr))
		case p.Address != m.RaftAddr && p.Voter:
			c.log.Info("voter moved", "member", m.Name, "from", p.Address, "to", m.RaftAddr)
			errs = append(errs, c.raft.AddVoter(id, m.RaftAddr))
		case p.Address != m.RaftAddr:
			c.log.Info("non-voter moved", "member", m.Name, "from", p.Address, "to", m.RaftAddr)
			errs = append(errs, c.raft.AddNonvoter(id, m.RaftAddr))
		case !p.Voter && voters < target:
			c.log.Info("promoting non-voter", "member", m.Name)
			errs = append(errs, c.raft.AddVoter(id, p.Address))
			voters++
		}
	}
	c.unproven = unproven
	for _, p := range peers {
		if p.ID == c.cfg.ID {
			continue
		}
		m, known := members[p.ID]
		if !known {
			m = unseen(p.ID, termStart)
		}
		down := time.Since(m.Since)
		switch {
		case m.Status == gossip.StatusLeft, m.Status == gossip.StatusDead && down > c.cfg.RemoveAfter:
			c.log.Info("removing member", "member", m.Name, "status", m.Status)
			errs = append(errs, c.raft.Remove(p.ID))
		case m.Status == gossip.StatusDead && p.Voter && down > c.cfg.PromoteAfter:
			if id := promotable(byID, members); id != "" {
				// The non-voter keeps the address Raft has for it, which
				// it proved; gossip's may be a claim not proven yet.
				c.log.Info("replacing dead voter", "dead", m.Name, "promoted", members[id].Name)
				if err := c.raft.AddVoter(id, byID[id].Address); err != nil {
					errs = append(errs, err)
					continue
				}
				errs = append(errs, c.raft.Demote(p.ID))
			}
		}
	}
	return errors.Join(errs...)
}

// proofTimeout bounds one member's proof, so that an address that does not
// answer holds up a membership round only briefly.
const proofTimeout = 2 * time.Second

// prove asks Config.Prove whether m holds its id at its Raft address; with
// no Prove configured every claim stands.
func (c *ControlPlane) prove(ctx context.Context, m gossip.Member) error {
	if c.cfg.Prove == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, proofTimeout)
	defer cancel()
	return c.cfg.Prove(ctx, m.ID, m.RaftAddr)
}

// promotable picks the alive non-voter with the lowest id, or "".
func promotable(peers map[string]raft.Peer, members map[string]gossip.Member) string {
	best := ""
	for id, p := range peers {
		if !p.Voter && members[id].Status == gossip.StatusAlive && (best == "" || id < best) {
			best = id
		}
	}
	return best
}

// unseenGrace is the least time a new term gives gossip to hear of a node
// before it counts a node it has never heard of as down: after a power cut
// every agent's ring starts empty and fills within a few probe rounds, and
// a node marked down too early would lose its tasks for nothing.
const unseenGrace = 5 * time.Second

// unseen stands for a member gossip has not heard of since the term began:
// dead since then.
func unseen(id string, termStart time.Time) gossip.Member {
	return gossip.Member{Meta: gossip.Meta{ID: id, Name: id}, Status: gossip.StatusDead, Since: termStart}
}

// reconcileNodeHealth marks nodes down when gossip has found them dead for
// longer than DownAfter (at once when they left), or has not heard of them
// at all for DownAfter (and at least unseenGrace) since termStart, or
// report that their container engine does not answer, and ready when they
// are back with an engine that answers.
func (c *ControlPlane) reconcileNodeHealth(ctx context.Context, termStart time.Time) error {
	members := map[string]gossip.Member{}
	for _, m := range c.members.Members() {
		members[m.ID] = m
	}
	var errs []error
	for _, n := range c.state.State().Nodes() {
		m, known := members[n.ID]
		downAfter := c.cfg.DownAfter
		if !known && n.ID != c.cfg.ID {
			m = unseen(n.Name, termStart)
			downAfter = max(downAfter, unseenGrace)
		}
		switch {
		case n.Status == structs.NodeReady && (m.Status == gossip.StatusLeft || m.Status == gossip.StatusDead && time.Since(m.Since) >= downAfter):
			reason := fmt.Sprintf("node %s is down (%s)", n.Name, m.Status)
			c.log.Warn("marking node down", "down", n.Name, "gossip", m.Status)
			_, err := c.commit.Commit(ctx, fsm.CmdSetNodeStatus, fsm.SetNodeStatus{ID: n.ID, Status: structs.NodeDown, Reason: reason, At: time.Now().UnixMilli()})
			errs = append(errs, err)
		case n.Status == structs.NodeReady && n.EngineError != "":
			reason := fmt.Sprintf("the container engine of node %s does not answer: %s", n.Name, n.EngineError)
			c.log.Warn("marking node down", "down", n.Name, "engine", n.EngineError)
			_, err := c.commit.Commit(ctx, fsm.CmdSetNodeStatus, fsm.SetNodeStatus{ID: n.ID, Status: structs.NodeDown, Reason: reason, At: time.Now().UnixMilli()})
			errs = append(errs, err)
		case n.Status == structs.NodeDown && n.EngineError == "" && (m.Status == gossip.StatusAlive || n.ID == c.cfg.ID):
			c.log.Info("node is back", "back", n.Name)
			_, err := c.commit.Commit(ctx, fsm.CmdSetNodeStatus, fsm.SetNodeStatus{ID: n.ID, Status: structs.NodeReady, At: time.Now().UnixMilli()})
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
