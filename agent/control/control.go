// Package control is an agent's share of the control plane: it forms a new
// cluster (bootstrap-expect) and, while this agent leads, keeps services at
// their desired count through the scheduler, collects old tasks, turns
// gossip's verdicts into Raft membership and node statuses. Leadership has
// a lifecycle: every time this agent becomes the leader it first passes a
// Barrier for the new term and then starts the leader's loops under a
// context of their own; when it stops leading it cancels them and waits for
// them, so that a lost-and-regained leadership can never skip the Barrier.
package control

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/gossip"
	"github.com/skiff-run/skiff/raft"
	"github.com/skiff-run/skiff/structs"
)

// Raft is what the control plane needs of the consensus layer; *raft.Node
// implements it.
type Raft interface {
	LeaderCh() <-chan bool
	IsLeader() bool
	LeaderID() string
	Barrier(ctx context.Context) error
	HasState() (bool, error)
	BootstrapWith(peers map[string]string) error
	Peers() ([]raft.Peer, error)
	AddVoter(id, addr string) error
	AddNonvoter(id, addr string) error
	Demote(id string) error
	Remove(id string) error
}

// Members is the gossip view of the cluster; *gossip.Ring implements it.
type Members interface {
	Members() []gossip.Member
	// Changed receives after membership changes.
	Changed() <-chan struct{}
}

// Config configures the control plane.
type Config struct {
	// ID is this node's id.
	ID string
	// BootstrapExpect is how many agents form a new cluster together.
	BootstrapExpect int
	// Voters is how many voters the leader keeps.
	Voters int
	// DownAfter, PromoteAfter and RemoveAfter are how long a member must
	// be dead before its node is marked down, before a non-voter takes its
	// vote, and before it is removed from Raft.
	DownAfter, PromoteAfter, RemoveAfter time.Duration
	// LeaderOf asks the agent at an API address which leader it knows
	// ("" for none); bootstrap uses it to join an existing cluster rather
	// than form a second one.
	LeaderOf func(ctx context.Context, apiAddr string) (string, error)
	// BootstrapACL, when set, is the management token a leader registers
	// when the cluster has no API token at all, so that a new cluster can
	// be managed from its first minute.
	BootstrapACL *structs.ACLToken
	// Prove, when set, checks that the server at a Raft address holds the
	// identity of node id, and says why not otherwise. The leader calls it
	// before it adds a server to the Raft configuration or moves one to a
	// new address, because gossip metadata is only a claim. Nil means no
	// proof: an agent without a cluster secret has no identities to prove.
	Prove func(ctx context.Context, id, raftAddr string) error
	// PendingTimeout is how long a service's task may stay PENDING before
	// the leader gives up on it and places a replacement: a node whose
	// engine hangs must not hold a service below its count for good. Zero
	// means ten minutes, twice what a node gives one start.
	PendingTimeout time.Duration
	// Clock is the time schedules fire by; nil means the system clock.
	// Tests set it to drive schedules through time.
	Clock func() time.Time
	// HealthyAfter is how long a new task without a health check must
	// run before a deployment counts it healthy. Zero means five seconds.
	HealthyAfter time.Duration
	// StuckAfter is how long a deployment may go without its counts
	// changing while its service's tasks cannot be placed before its
	// circuit breaker trips. Zero means five minutes.
	StuckAfter time.Duration
	// Observer, when set, hears of every scheduling decision.
	Observer PlanObserver
	Logger   *slog.Logger
}

// PlanObserver records scheduling decisions, for metrics. It is called
// from the leader's loops and must not block.
type PlanObserver interface {
	ObservePlan(d time.Duration, placed, unplaced int)
}

// ControlPlane runs the loops above. Its methods are safe for concurrent
// use.
type ControlPlane struct {
	cfg     Config
	raft    Raft
	members Members
	state   fsm.Replica
	commit  fsm.Committer
	log     *slog.Logger

	// planMu serializes scheduling decisions (one service's plan, or one
	// run of one-off tasks): each is computed against the newest state
	// and committed before the next is computed, so no two plans claim the
	// same resources. Reads never take it.
	planMu sync.Mutex
	term   *term // the current leader term, nil while following; guarded by planMu

	// unproven holds the members whose proof failed in the last membership
	// round, so that each failure is logged once rather than twice a
	// second. Only the membership loop uses it, and one runs at a time.
	unproven map[proofKey]bool
}

// proofKey is a member's claim: an id at a Raft address.
type proofKey struct{ id, addr string }

// New returns a control plane; Run starts it.
func New(cfg Config, r Raft, m Members, state fsm.Replica, c fsm.Committer) *ControlPlane {
	if cfg.PendingTimeout == 0 {
		cfg.PendingTimeout = 10 * time.Minute
	}
	return &ControlPlane{cfg: cfg, raft: r, members: m, state: state, commit: c, log: cfg.Logger}
}

// Run forms the cluster when there is none yet and follows leadership
// transitions until ctx ends; it returns once every loop it started has
// returned.
func (c *ControlPlane) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.bootstrap(ctx) }()
	c.monitorLeadership(ctx)
	wg.Wait()
}

// monitorLeadership starts a leader term on every gain of leadership and
// ends it on every loss. Transitions arrive in order, every one of them.
func (c *ControlPlane) monitorLeadership(ctx context.Context) {
	var stop func()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case leading := <-c.raft.LeaderCh():
			// Every transition ends the running term, if any; a gain then
			// starts a new one with its own Barrier. Raft delivers each
			// loss, but a gain that found a term still running would be
			// handled the same way.
			if stop != nil {
				stop()
				stop = nil
				c.log.Info("stopped leading")
			}
			if leading {
				stop = c.startTerm(ctx)
			}
		}
	}
}

// startTerm runs a leader term in the background; the function it returns
// cancels the term and waits until all of its loops have returned.
func (c *ControlPlane) startTerm(ctx context.Context) func() {
	tctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.lead(tctx)
	}()
	return func() {
		cancel()
		<-done
	}
}
