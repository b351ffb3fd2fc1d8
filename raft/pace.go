package raft

import (
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"
)

// pacedHeartbeats is the transport with the leader's heartbeats paced:
// hashicorp/raft heartbeats each follower every tenth to fifth of the
// heartbeat timeout, fixed, which is most of what an idle leader spends. A
// heartbeat to a follower that had one less than the pace ago waits out
// the rest of it first, so a follower hears from the leader once a pace
// instead of up to ten times a follower timeout. The wait happens on the
// heartbeat's own goroutine, which does nothing else, so replication is
// not held up, and a follower's last contact is only ever set by a
// heartbeat that was answered: the leader's lease is never stretched by
// one that was not sent.
//
// A heartbeat is let through at once while a leadership check (ReadIndex)
// is under way, since the check waits for the answers of a quorum.
type pacedHeartbeats struct {
	mainLoopHeartbeats
	pacer *pacer
}

// AppendEntries implements hraft.Transport.
func (t pacedHeartbeats) AppendEntries(id hraft.ServerID, target hraft.ServerAddress, args *hraft.AppendEntriesRequest, resp *hraft.AppendEntriesResponse) error {
	if !isHeartbeat(args) {
		return t.mainLoopHeartbeats.AppendEntries(id, target, args, resp)
	}
	t.pacer.wait(id)
	t.pacer.sent(id)
	return t.mainLoopHeartbeats.AppendEntries(id, target, args, resp)
}

// isHeartbeat tells the leader's heartbeats from its appends: a heartbeat
// carries the term and the leader only, no entries and no log position.
func isHeartbeat(args *hraft.AppendEntriesRequest) bool {
	return len(args.Entries) == 0 && args.PrevLogEntry == 0 && args.PrevLogTerm == 0 && args.LeaderCommitIndex == 0
}

// pacer keeps the time of the last heartbeat sent to each follower and
// holds the next one back until the pace has passed. Its methods are safe
// for concurrent use: each follower's heartbeat goroutine calls wait and
// sent, ReadIndex calls hurry, and Close calls close.
type pacer struct {
	pace time.Duration
	// now and after are time.Now and time.After, replaced in tests.
	now   func() time.Time
	after func(time.Duration) <-chan time.Time

	mu   sync.Mutex
	last map[hraft.ServerID]time.Time
	// hurrying counts the leadership checks under way; while it is above
	// zero, nothing waits.
	hurrying int
	// wake is closed, and replaced, when a wait must end early: a check
	// begins or the transport closes.
	wake   chan struct{}
	closed bool
}

func newPacer(pace time.Duration) *pacer {
	return &pacer{pace: pace, now: time.Now, after: time.After,
		last: make(map[hraft.ServerID]time.Time), wake: make(chan struct{})}
}

// wait returns once a heartbeat to id may go: a pace after the last one,
// or at once while a check is under way or after close.
func (p *pacer) wait(id hraft.ServerID) {
	p.mu.Lock()
	if p.hurrying > 0 || p.closed {
		p.mu.Unlock()
		return
	}
	last, ok := p.last[id]
	wake := p.wake
	p.mu.Unlock()
	if !ok {
		return
	}
	d := p.pace - p.now().Sub(last)
	if d <= 0 {
		return
	}
	select {
	case <-p.after(d):
	case <-wake:
	}
}

// sent records that a heartbeat to id goes now.
func (p *pacer) sent(id hraft.ServerID) {
	p.mu.Lock()
	p.last[id] = p.now()
	p.mu.Unlock()
}

// hurry lets every heartbeat through at once until the returned function
// is called, which the caller must do once.
func (p *pacer) hurry() (done func()) {
	p.mu.Lock()
	p.hurrying++
	if !p.closed {
		close(p.wake)
		p.wake = make(chan struct{})
	}
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.hurrying--
		p.mu.Unlock()
	}
}

// close ends every wait for good, so that Raft's shutdown, which waits for
// its heartbeat goroutines, is not held up by a pace.
func (p *pacer) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.wake)
	}
	p.mu.Unlock()
}
