package raft

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
)

// driver sends the leader's heartbeats itself, to every follower at once,
// once a pace. hashicorp/raft heartbeats each follower on a timer of its
// own, every 50 to 100 ms at a 500 ms timeout; holding those back to the
// pace (as an earlier design did) still woke the leader twice per
// follower and heartbeat, each time at another moment, and every wake-up
// of an idle Go process also wakes the runtime's monitor thread for a
// burst of short sleeps. A leadership check (VerifyLeader) makes the
// library send a heartbeat to every follower at once, so one tick of the
// driver's ticker is one wake-up for all of them.
//
// While it leads, the node's heartbeat timeout in the library is raised to
// backstop, four follower timeouts, which moves the library's own
// heartbeat timer to 0.4 to 0.8 of the follower timeout after the last
// heartbeat: it fires only when the driver is late (a pause of the
// process), and then a heartbeat still goes. It is also what non-voters
// hear while the leader is the only voter, since a leadership check with
// a quorum of one asks nobody. The timeout is set back as soon as the node
// stops leading, since as a follower the same setting is how long it
// waits for a leader. The followers' timeout, the election and the
// leader's lease are untouched, so a dead leader is replaced exactly as
// fast as without the driver.
//
// sync may be called from any goroutine; the driver serialises its
// transitions under mu.
type driver struct {
	raft *hraft.Raft
	log  hclog.Logger
	// pace is how often the leader heartbeats; timeout is the followers'
	// heartbeat timeout and backstop the leader's.
	pace, timeout, backstop time.Duration

	mu      sync.Mutex
	stop    chan struct{} // closed to end the ticker; nil while not driving
	stopped chan struct{} // closed once the ticker has ended
	closed  bool
	// paused counts the leadership transfers under way, during which the
	// node's timeouts are its own again: the library times a transfer by
	// the election timeout.
	paused int
}

func newDriver(r *hraft.Raft, log hclog.Logger, timeout time.Duration) *driver {
	return &driver{raft: r, log: log, timeout: timeout, backstop: 4 * timeout,
		pace: time.Duration(float64(timeout) * HeartbeatPace)}
}

// sync drives heartbeats while the node leads and stops when it does not,
// judged by the state Raft is in now rather than by the observation that
// prompted the call, since observations can be dropped or arrive late.
func (d *driver) sync() {
	d.mu.Lock()
	defer d.mu.Unlock()
	lead := !d.closed && d.paused == 0 && d.raft.State() == hraft.Leader
	switch {
	case lead && d.stop == nil:
		d.setTimeout(d.backstop)
		d.stop, d.stopped = make(chan struct{}), make(chan struct{})
		go d.tick(d.stop, d.stopped)
	case !lead && d.stop != nil:
		close(d.stop)
		<-d.stopped
		d.stop, d.stopped = nil, nil
		d.setTimeout(d.timeout)
	}
}

// pause stops driving and sets the timeouts back until the returned
// function is called, which the caller must do once.
func (d *driver) pause() (resume func()) {
	d.mu.Lock()
	d.paused++
	d.mu.Unlock()
	d.sync()
	return func() {
		d.mu.Lock()
		d.paused--
		d.mu.Unlock()
		d.sync()
	}
}

// close stops driving for good.
func (d *driver) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.sync()
}

// setTimeout changes the library's heartbeat timeout, and its election
// timeout with it, which may not be shorter. A leader uses the election
// timeout only to time a leadership transfer, which pauses the driver.
// Lowering them wakes a follower's timer at once, which then checks the
// leader's last contact against the shorter timeout. Callers hold mu.
func (d *driver) setTimeout(t time.Duration) {
	rc := d.raft.ReloadableConfig()
	if rc.HeartbeatTimeout == t && rc.ElectionTimeout == t {
		return
	}
	rc.HeartbeatTimeout, rc.ElectionTimeout = t, t
	if err := d.raft.ReloadConfig(rc); err != nil {
		d.log.Error("set the heartbeat timeout", "timeout", t, "error", err)
	}
}

// tick asks for a leadership check every pace until stop is closed. The
// check's answer is not waited for: Raft steps down by itself when a
// follower answers with a newer term, and the lease ends a leader that
// hears from no quorum. A tick that finds the node no longer leading
// sends nothing and has sync look (on a goroutine of its own, since sync
// waits for this one to end): sync stops the ticker, unless the node leads
// again by then.
func (d *driver) tick(stop, stopped chan struct{}) {
	defer close(stopped)
	t := time.NewTicker(d.pace)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if d.raft.State() != hraft.Leader {
				go d.sync()
				continue
			}
			// A leader alone in the configuration has nobody to
			// heartbeat, and its check would ask nobody. The
			// configuration is read without the main loop.
			if cfg := d.raft.GetConfiguration(); cfg.Error() == nil && len(cfg.Configuration().Servers) > 1 {
				d.raft.VerifyLeader()
			}
		}
	}
}
