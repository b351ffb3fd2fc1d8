package agent

import (
	"context"
	"time"

	"github.com/skiff-run/skiff/raft"
)

// announcer commits commands through Raft and then has the followers hear
// of the commit at once. Raft tells a follower how far the log is
// committed only in its next AppendEntries: the one that carries the next
// entries, or, when none follow, the one the leader sends after its commit
// timeout. The commit timeout is long (see raft.Config.CommitTimeout), so
// that an idle leader does not send those to every follower many times a
// second; without the announcement a follower would then run the tasks
// placed on it up to two timeouts late. After a commit the announcer
// appends a barrier, an entry the state machine never sees, and Raft sends
// it with the new commit index to every follower at once.
//
// Apply is safe for concurrent use; run must be running for announcements
// to be made. Commits that land while a barrier is under way share the
// next one, so a busy leader adds at most one entry per round of its
// writes, and an idle one none.
type announcer struct {
	raft *raft.Node
	kick chan struct{} // holds at most one announcement not yet made
}

func newAnnouncer(r *raft.Node) *announcer {
	return &announcer{raft: r, kick: make(chan struct{}, 1)}
}

// Apply commits cmd as raft.Node.Apply does and, once it is committed,
// asks for an announcement.
func (a *announcer) Apply(ctx context.Context, cmd []byte, timeout time.Duration) (any, error) {
	res, err := a.raft.Apply(ctx, cmd, timeout)
	if err == nil {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
	return res, err
}

// run makes the announcements until ctx ends. A barrier that fails (this
// node no longer leads) is not retried: the next leader's own entries
// carry the commit index.
func (a *announcer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		}
		bctx, cancel := context.WithTimeout(ctx, applyTimeout)
		_ = a.raft.Barrier(bctx)
		cancel()
	}
}
