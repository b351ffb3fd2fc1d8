package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/raft"
)

// applyTimeout bounds one commit when the caller's context sets no
// deadline.
const applyTimeout = 10 * time.Second

// committer commits commands: through Raft on the leader, and for the
// commands a follower's own loops send (registration, status reports) by
// forwarding them to the leader's internal apply endpoint. Anything else on
// a follower is refused, because user requests reach the leader as the
// HTTP request itself. It is safe for concurrent use.
type committer struct {
	raft *raft.Node
	// announce applies on the leader, so that followers hear of the commit
	// at once.
	announce  *announcer
	leaderAPI func() string
	// members is the gossip view, where servers say which command types
	// they apply.
	members func() []gossip.Member
	// peerScheme and peers reach the leader's API; with a cluster secret
	// they show this node's certificate, which is what the leader takes
	// forwarded commands on.
	peerScheme string
	peers      *http.Client
	// observe, when set, records how long each commit through this
	// leader's Raft took.
	observe func(time.Duration)
}

// forwardable lists the commands a follower's own loops send to the
// leader.
var forwardable = map[fsm.CommandType]bool{fsm.CmdRegisterNode: true, fsm.CmdUpdateTaskStatus: true}

// Commit encodes and commits one command and returns the FSM's result.
func (c *committer) Commit(ctx context.Context, t fsm.CommandType, body any) (any, error) {
	if t&^fsm.IgnoreUnknownFlag > fsm.Baseline || t&fsm.IgnoreUnknownFlag != 0 {
		if err := c.supported(t); err != nil {
			return nil, err
		}
	}
	cmd, err := fsm.Encode(t, body)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res, err := c.announce.Apply(ctx, cmd, applyTimeout)
	if err == nil && c.observe != nil {
		c.observe(time.Since(start))
	}
	if errors.Is(err, raft.ErrNotLeader) {
		if forwardable[t] {
			return c.forward(ctx, cmd)
		}
		if serr := c.raft.StoreError(); serr != nil && c.raft.LeaderID() == "" {
			return nil, fmt.Errorf("%w: this agent cannot write its Raft log, so it cannot lead: %v", api.ErrUnavailable, serr)
		}
		return nil, fmt.Errorf("%w: this agent is not the leader (leader: %q)", api.ErrUnavailable, c.raft.LeaderID())
	}
	return res, err
}

// supported refuses a command type that some Raft server may not apply:
// an older replica would stop at it. Servers gossip the newest type they
// know; one that gossips none, or that gossip does not know of (it may be
// down), is taken for an older release that knows the baseline and stops
// at any flagged type, flag or not.
func (c *committer) supported(t fsm.CommandType) error {
	peers, err := c.raft.Peers()
	if err != nil {
		return err
	}
	return everyServerApplies(t, peers, c.members())
}

// everyServerApplies is supported's verdict for a given configuration and
// gossip view.
func everyServerApplies(t fsm.CommandType, peers []raft.Peer, members []gossip.Member) error {
	byID := map[string]gossip.Member{}
	for _, m := range members {
		byID[m.ID] = m
	}
	base, flagged := t&^fsm.IgnoreUnknownFlag, t&fsm.IgnoreUnknownFlag != 0
	for _, p := range peers {
		m, known := byID[p.ID]
		if !known {
			m = gossip.Member{Meta: gossip.Meta{ID: p.ID, Name: p.ID, Version: "of unknown version"}}
		}
		applies := fsm.CommandType(m.Commands) >= base || m.Commands == 0 && base <= fsm.Baseline
		if flagged {
			// A release that gossips its commands knows the flag and
			// skips a flagged type it lacks.
			applies = m.Commands > 0
		}
		if !applies {
			return fmt.Errorf("%w: server %s runs skiff %s, which cannot apply %s yet; upgrade it first", api.ErrUnavailable, m.Name, m.Version, t)
		}
	}
	return nil
}

// forward sends a command to the leader's internal apply endpoint.
func (c *committer) forward(ctx context.Context, cmd []byte) (any, error) {
	addr := c.leaderAPI()
	if addr == "" {
		return nil, fmt.Errorf("%w: no leader is known yet", api.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.peerScheme+"://"+addr+api.InternalApplyPath, bytes.NewReader(cmd))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.peers.Do(req)
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
