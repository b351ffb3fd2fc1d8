package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/structs"
)

// advertiseIP is the IP other agents reach this one on: the configured
// one, else the IP Raft binds when it is specific, else a private IP of
// the host.
func advertiseIP(cfg Config) (string, error) {
	if cfg.Advertise != "" {
		return cfg.Advertise, nil
	}
	host, _, err := net.SplitHostPort(cfg.RaftAddr)
	if err != nil {
		return "", fmt.Errorf("agent: raft address %q: %w", cfg.RaftAddr, err)
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		return host, nil
	}
	ip, err := sockaddr.GetPrivateIP()
	if err != nil || ip == "" {
		return "", fmt.Errorf("agent: cannot tell which IP to advertise; give --advertise (%v)", err)
	}
	return ip, nil
}

func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// startGossip starts the ring with this node's metadata and, when join
// addresses are given, keeps trying to join in the background.
func (a *Agent) startGossip(ip string) error {
	host, _, err := net.SplitHostPort(a.cfg.GossipAddr)
	if err != nil {
		return fmt.Errorf("agent: gossip address %q: %w", a.cfg.GossipAddr, err)
	}
	a.ring, err = gossip.Start(gossip.Config{
		Meta: gossip.Meta{ID: a.id, Name: a.cfg.Name, RaftAddr: a.raft.Addr(), APIAddr: net.JoinHostPort(ip, strconv.Itoa(portOf(a.httpLn.Addr().String()))),
			CPU: a.cfg.CPU, MemoryMiB: a.cfg.MemoryMiB, Attributes: a.cfg.Attributes, Version: Version, BootstrapExpect: a.cfg.BootstrapExpect},
		BindAddr: host, BindPort: portOf(a.cfg.GossipAddr), AdvertiseAddr: ip, ProbeInterval: a.cfg.ProbeInterval, LogOutput: a.cfg.RaftLog, Debug: a.cfg.Debug,
	})
	if err != nil {
		return err
	}
	if len(a.cfg.Join) > 0 {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			_ = a.ring.RetryJoin(a.ctx, a.cfg.Join, defaultGossipPort, func(msg string, args ...any) { a.log.Info(msg, args...) })
		}()
	}
	return nil
}

// defaultGossipPort is the port a --join address without one is given.
const defaultGossipPort = 7946

// clusterLoop forms the cluster (bootstrap-expect) while there is none,
// and on the leader turns gossip's verdicts into Raft membership changes
// and node statuses.
func (a *Agent) clusterLoop() {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var boot bootstrapper
	for {
		switch {
		case a.raft.IsLeader():
			if err := a.reconcileMembers(); err != nil && a.ctx.Err() == nil {
				a.log.Warn("membership", "err", err)
			}
			if err := a.reconcileNodeHealth(); err != nil && a.ctx.Err() == nil {
				a.log.Warn("node health", "err", err)
			}
		case a.raft.LeaderID() == "" && a.cfg.BootstrapExpect > 1:
			boot.step(a)
		}
		select {
		case <-a.ctx.Done():
			return
		case <-a.ring.Changed():
		case <-tick.C:
		}
	}
}

// bootstrapper forms a new cluster once BootstrapExpect agents see each
// other. Every candidate computes the same voter set, the lowest node ids,
// so they all bootstrap the same configuration; the set must hold steady
// for a second, and no candidate may already know a leader.
type bootstrapper struct {
	last  string
	since time.Time
	done  bool
}

func (b *bootstrapper) step(a *Agent) {
	if b.done {
		return
	}
	if has, err := a.raft.HasState(); err != nil || has {
		b.done = err == nil
		return
	}
	var cands []gossip.Member
	for _, m := range a.ring.Members() {
		if m.Status != gossip.StatusAlive {
			continue
		}
		if m.BootstrapExpect != a.cfg.BootstrapExpect {
			a.log.Warn("member expects a different cluster size; not counting it", "member", m.Name, "expects", m.BootstrapExpect, "we expect", a.cfg.BootstrapExpect)
			continue
		}
		cands = append(cands, m)
	}
	if len(cands) < a.cfg.BootstrapExpect {
		return
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].ID < cands[j].ID })
	chosen := cands[:a.cfg.BootstrapExpect]
	key, self := "", false
	peers := map[string]string{}
	for _, m := range chosen {
		key += m.ID + "@" + m.RaftAddr + ","
		peers[m.ID] = m.RaftAddr
		self = self || m.ID == a.id
	}
	if key != b.last {
		b.last, b.since = key, time.Now()
		return
	}
	if !self || time.Since(b.since) < time.Second {
		return
	}
	for _, m := range chosen {
		if m.ID == a.id {
			continue
		}
		if h, err := api.NewClient(m.APIAddr).Health(a.ctx); err == nil && h.Leader != "" {
			a.log.Info("a cluster already exists; waiting to be added", "leader", h.Leader)
			b.done = true
			return
		}
	}
	a.log.Info("bootstrapping the cluster", "voters", len(peers))
	if err := a.raft.BootstrapWith(peers); err != nil {
		a.log.Warn("bootstrap", "err", err)
	}
	b.done = true
}

// reconcileMembers keeps the Raft configuration in line with gossip:
// new members join (as voters while there are fewer than the target, else
// as non-voters), moved members get their new address, a voter dead for
// longer than PromoteAfter is replaced by a healthy non-voter, and members
// that left, or stayed dead past RemoveAfter, are removed.
func (a *Agent) reconcileMembers() error {
	peers, err := a.raft.Peers()
	if err != nil {
		return err
	}
	members := map[string]gossip.Member{}
	alive := 0
	for _, m := range a.ring.Members() {
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
	target := min(a.cfg.Voters, alive)
	var errs []error
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := members[id]
		if m.Status != gossip.StatusAlive || id == a.id {
			continue
		}
		p, known := byID[id]
		switch {
		case !known && voters < target:
			a.log.Info("adding voter", "member", m.Name, "addr", m.RaftAddr)
			errs = append(errs, a.raft.AddVoter(id, m.RaftAddr))
			voters++
		case !known:
			a.log.Info("adding non-voter", "member", m.Name, "addr", m.RaftAddr)
			errs = append(errs, a.raft.AddNonvoter(id, m.RaftAddr))
		case p.Address != m.RaftAddr && p.Voter:
			a.log.Info("voter moved", "member", m.Name, "from", p.Address, "to", m.RaftAddr)
			errs = append(errs, a.raft.AddVoter(id, m.RaftAddr))
		case p.Address != m.RaftAddr:
			a.log.Info("non-voter moved", "member", m.Name, "from", p.Address, "to", m.RaftAddr)
			errs = append(errs, a.raft.AddNonvoter(id, m.RaftAddr))
		case !p.Voter && voters < target:
			a.log.Info("promoting non-voter", "member", m.Name)
			errs = append(errs, a.raft.AddVoter(id, m.RaftAddr))
			voters++
		}
	}
	for _, p := range peers {
		m, known := members[p.ID]
		if !known || p.ID == a.id {
			continue
		}
		down := time.Since(m.Since)
		switch {
		case m.Status == gossip.StatusLeft, m.Status == gossip.StatusDead && down > a.cfg.RemoveAfter:
			a.log.Info("removing member", "member", m.Name, "status", m.Status)
			errs = append(errs, a.raft.Remove(p.ID))
		case m.Status == gossip.StatusDead && p.Voter && down > a.cfg.PromoteAfter:
			if id := a.promotable(byID, members); id != "" {
				a.log.Info("replacing dead voter", "dead", m.Name, "promoted", members[id].Name)
				if err := a.raft.AddVoter(id, members[id].RaftAddr); err != nil {
					errs = append(errs, err)
					continue
				}
				errs = append(errs, a.raft.Demote(p.ID))
			}
		}
	}
	return errors.Join(errs...)
}

// promotable picks the alive non-voter with the lowest id, or "".
func (a *Agent) promotable(peers map[string]raft.Peer, members map[string]gossip.Member) string {
	best := ""
	for id, p := range peers {
		if !p.Voter && members[id].Status == gossip.StatusAlive && (best == "" || id < best) {
			best = id
		}
	}
	return best
}

// reconcileNodeHealth marks nodes down when gossip has found them dead for
// longer than DownAfter (at once when they left) and ready when they are
// back.
func (a *Agent) reconcileNodeHealth() error {
	members := map[string]gossip.Member{}
	for _, m := range a.ring.Members() {
		members[m.ID] = m
	}
	var errs []error
	for _, n := range a.fsm.State().Nodes() {
		m, known := members[n.ID]
		if !known && n.ID != a.id {
			continue
		}
		switch {
		case n.Status == structs.NodeReady && (m.Status == gossip.StatusLeft || m.Status == gossip.StatusDead && time.Since(m.Since) >= a.cfg.DownAfter):
			reason := fmt.Sprintf("node %s is down (%s)", n.Name, m.Status)
			a.log.Warn("marking node down", "down", n.Name, "gossip", m.Status)
			_, err := a.write(fsm.CmdSetNodeStatus, fsm.SetNodeStatus{ID: n.ID, Status: structs.NodeDown, Reason: reason, At: now()})
			errs = append(errs, err)
		case n.Status == structs.NodeDown && (m.Status == gossip.StatusAlive || n.ID == a.id):
			a.log.Info("node is back", "back", n.Name)
			_, err := a.write(fsm.CmdSetNodeStatus, fsm.SetNodeStatus{ID: n.ID, Status: structs.NodeReady, At: now()})
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		a.wake()
	}
	return errors.Join(errs...)
}

// leaderAPI returns the leader's API address, or "" when no leader is
// known.
func (a *Agent) leaderAPI() string {
	id := a.raft.LeaderID()
	if id == "" {
		return ""
	}
	return a.NodeAPI(id)
}

// NodeAPI implements api.Backend: a node's API address, from gossip or,
// failing that, from the state.
func (a *Agent) NodeAPI(id string) string {
	for _, m := range a.ring.Members() {
		if m.ID == id && m.Status == gossip.StatusAlive {
			return m.APIAddr
		}
	}
	if n := a.fsm.State().Node(id); n != nil {
		return n.APIAddress
	}
	return ""
}

// LeaderAPI implements api.Backend.
func (a *Agent) LeaderAPI() string { return a.leaderAPI() }

// Barrier implements api.Backend.
func (a *Agent) Barrier(context.Context) error { return a.raft.Raft.Barrier(5 * time.Second).Error() }

// IsLeader implements api.Backend.
func (a *Agent) IsLeader() bool { return a.raft.IsLeader() }

// forwardable lists the commands a follower's own loops send to the
// leader. Everything a user asks for reaches the leader as the HTTP
// request itself.
var forwardable = map[fsm.CommandType]bool{fsm.CmdRegisterNode: true, fsm.CmdUpdateTaskStatus: true}

// forward sends a command to the leader's internal apply endpoint.
func (a *Agent) forward(cmd []byte) (any, error) {
	addr := a.leaderAPI()
	if addr == "" {
		return nil, fmt.Errorf("%w: no leader is known yet", api.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+api.InternalApplyPath, bytes.NewReader(cmd))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: forward to leader at %s: %v", api.ErrUnavailable, addr, err)
	}
	defer resp.Body.Close()
	var out api.ApplyAnswer
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("forward to leader at %s: %s", addr, bytes.TrimSpace(raw))
	}
	if out.Error != "" {
		return nil, errors.New(out.Error)
	}
	return out.Result, nil
}

// ApplyInternal implements api.Backend for commands forwarded by other
// agents' loops.
func (a *Agent) ApplyInternal(_ context.Context, cmd []byte) (any, error) {
	if len(cmd) == 0 || !forwardable[fsm.CommandType(cmd[0])] {
		return nil, &api.FieldError{Field: "body", Message: "not a forwardable command"}
	}
	if !a.raft.IsLeader() {
		return nil, fmt.Errorf("%w: this agent is not the leader", api.ErrUnavailable)
	}
	return a.raft.Apply(cmd, 10*time.Second)
}

// Members implements api.Backend.
func (a *Agent) Members() []api.Member {
	ms := a.ring.Members()
	out := make([]api.Member, len(ms))
	for i, m := range ms {
		out[i] = api.Member{ID: m.ID, Name: m.Name, RaftAddr: m.RaftAddr, APIAddr: m.APIAddr, CPU: m.CPU, MemoryMiB: m.MemoryMiB,
			Attributes: m.Attributes, Version: m.Version, BootstrapExpect: m.BootstrapExpect, Leaving: m.Leaving,
			Addr: m.Addr, Status: m.Status, Since: m.Since}
	}
	return out
}

// RaftPeers implements api.Backend.
func (a *Agent) RaftPeers(context.Context) ([]api.RaftPeer, error) {
	peers, err := a.raft.Peers()
	out := make([]api.RaftPeer, len(peers))
	for i, p := range peers {
		out[i] = api.RaftPeer{ID: p.ID, Address: p.Address, Voter: p.Voter, Leader: p.Leader}
	}
	return out, err
}

// Drain implements api.Backend: an ineligible node gets no new tasks, and
// its service tasks move once their replacements run.
func (a *Agent) Drain(_ context.Context, node string, enable bool) (*structs.Node, error) {
	n, err := a.resolveNode(node)
	if err != nil {
		return nil, err
	}
	el := structs.EligibilityEligible
	if enable {
		el = structs.EligibilityIneligible
	}
	if _, err := a.write(fsm.CmdSetNodeStatus, fsm.SetNodeStatus{ID: n.ID, Eligibility: el, At: now()}); err != nil {
		return nil, err
	}
	a.wake()
	return a.fsm.State().Node(n.ID), nil
}

// resolveNode finds a node by id, unique id prefix, or name.
func (a *Agent) resolveNode(ref string) (*structs.Node, error) {
	st := a.fsm.State()
	if n := st.Node(ref); n != nil {
		return n, nil
	}
	var found []*structs.Node
	for _, n := range st.Nodes() {
		if n.Name == ref || (len(ref) >= 4 && len(n.ID) >= len(ref) && n.ID[:len(ref)] == ref) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("node %s: %w", ref, api.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return nil, &api.FieldError{Field: "node", Message: fmt.Sprintf("%q matches %d nodes; give the id", ref, len(found))}
}

// Leave implements api.Backend: it hands leadership over, leaves the ring
// so that the leader removes this node and re-places its tasks, stops the
// local containers, and then ends the agent (Done is closed).
func (a *Agent) Leave(ctx context.Context) error {
	if a.raft.IsLeader() {
		peers, _ := a.raft.Peers()
		voters := 0
		for _, p := range peers {
			if p.Voter {
				voters++
			}
		}
		if voters > 1 {
			if err := a.raft.TransferLeadership(); err != nil {
				a.log.Warn("leadership transfer failed", "err", err)
			}
		}
	}
	a.log.Info("leaving the cluster")
	err := a.ring.Leave(5 * time.Second)
	a.stopAllLocal(ctx)
	a.leaveOnce.Do(func() { close(a.left) })
	return err
}

// stopAllLocal stops every container this node runs.
func (a *Agent) stopAllLocal(ctx context.Context) {
	obs, err := a.rt.List(ctx, a.id)
	if err != nil {
		a.log.Warn("list containers", "err", err)
		return
	}
	for _, o := range obs {
		if err := a.rt.Stop(ctx, a.id, o.TaskID, stopTimeout); err != nil {
			a.log.Warn("stop task", "task", o.TaskID, "err", err)
		}
	}
}

// Done is closed once the agent has left the cluster.
func (a *Agent) Done() <-chan struct{} { return a.left }
