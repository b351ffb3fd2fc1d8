package raft

import (
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"
)

// fakeClock is a pacer's clock that moves only when told, and records the
// waits the pacer asked for.
type fakeClock struct {
	t      time.Time
	waits  []time.Duration
	expiry chan time.Time
}

func newFakeClock(p *pacer) *fakeClock {
	c := &fakeClock{t: time.Unix(1_700_000_000, 0), expiry: make(chan time.Time)}
	p.now = func() time.Time { return c.t }
	p.after = func(d time.Duration) <-chan time.Time {
		c.waits = append(c.waits, d)
		return c.expiry
	}
	return c
}

func TestPacerHoldsAHeartbeatForTheRestOfThePace(t *testing.T) {
	p := newPacer(200 * time.Millisecond)
	c := newFakeClock(p)
	id := hraft.ServerID("f1")

	p.wait(id) // the first heartbeat to a follower goes at once
	p.sent(id)
	if len(c.waits) != 0 {
		t.Fatalf("first heartbeat waited %v", c.waits)
	}

	c.t = c.t.Add(60 * time.Millisecond)
	done := make(chan struct{})
	go func() { p.wait(id); close(done) }()
	c.expiry <- c.t // the pacer asked for a timer and waits on it
	<-done
	if len(c.waits) != 1 || c.waits[0] != 140*time.Millisecond {
		t.Fatalf("waits = %v, want [140ms]", c.waits)
	}

	p.sent(id)
	c.t = c.t.Add(250 * time.Millisecond)
	p.wait(id) // a pace has passed: no wait
	if len(c.waits) != 1 {
		t.Fatalf("a heartbeat a pace late waited: %v", c.waits)
	}

	other := hraft.ServerID("f2")
	p.wait(other) // followers are paced apart
	if len(c.waits) != 1 {
		t.Fatalf("another follower's first heartbeat waited: %v", c.waits)
	}
}

func TestPacerHurryReleasesWaitingHeartbeats(t *testing.T) {
	p := newPacer(time.Hour)
	id := hraft.ServerID("f1")
	p.sent(id)

	released := make(chan struct{})
	go func() { p.wait(id); close(released) }()
	select {
	case <-released:
		t.Fatal("a heartbeat an hour early went without waiting")
	case <-time.After(50 * time.Millisecond):
	}
	done := p.hurry()
	<-released // would hang, and time the test out, if hurry did not wake it

	p.wait(id) // while hurrying nothing waits
	done()

	closed := make(chan struct{})
	go func() { p.wait(id); close(closed) }()
	p.close()
	<-closed
	p.wait(id) // after close nothing waits
	done = p.hurry()
	done()
}
