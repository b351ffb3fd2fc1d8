package raft

import (
	"io"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/skiff-run/skiff/internal/testutil"
)

// heartbeatsOver counts the heartbeats f answers over d.
func heartbeatsOver(f *fakeFollower, d time.Duration) int {
	_, before := f.counts()
	time.Sleep(d)
	_, after := f.counts()
	return after - before
}

// TestLeaderDrivesHeartbeats: a leader with another voter heartbeats it
// once a pace, not on the library's own 50-100 ms timer, with the
// library's timeout raised to the backstop while it leads; once it steps
// down (a heartbeat of a newer term reaches it) the timeout is the
// follower timeout again, so that it stands for election as soon as any
// follower would.
func TestLeaderDrivesHeartbeats(t *testing.T) {
	n, _ := openLeader(t, t.TempDir(), testutil.Addr(t))
	defer n.Close()
	follower := startFakeFollower(t)
	if err := n.AddVoter("follower", string(follower.trans.LocalAddr())); err != nil {
		t.Fatal(err)
	}
	timeout := func() time.Duration { return n.raft.ReloadableConfig().HeartbeatTimeout }
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		return timeout() == 4*DefaultHeartbeatTimeout, "the leader's heartbeat timeout is " + timeout().String()
	})
	// The backstop is moved out of the window, so that every heartbeat
	// the follower hears is the driver's: one a pace (200 ms), fewer on a
	// loaded machine, and none at all without the driver. The library
	// alone would send 20 to 40.
	n.driver.mu.Lock()
	n.driver.backstop = 100 * DefaultHeartbeatTimeout
	n.driver.mu.Unlock()
	n.driver.pause()()
	if got := timeout(); got != 100*DefaultHeartbeatTimeout {
		t.Fatalf("the leader's heartbeat timeout is %v after the backstop moved", got)
	}
	const window = 2 * time.Second
	pace := time.Duration(float64(DefaultHeartbeatTimeout) * HeartbeatPace)
	if got, most := heartbeatsOver(follower, window), int(window/pace)+3; got < 4 || got > most {
		t.Fatalf("the follower heard %d heartbeats in %v: want 4 to %d, one a pace", got, window, most)
	}

	other, err := hraft.NewTCPTransport(testutil.Addr(t), nil, 1, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	term := n.raft.CurrentTerm()
	heartbeat := &hraft.AppendEntriesRequest{
		RPCHeader: hraft.RPCHeader{ProtocolVersion: hraft.ProtocolVersionMax, ID: []byte("other"), Addr: []byte(other.LocalAddr())},
		Term:      term + 1,
	}
	var resp hraft.AppendEntriesResponse
	if err := other.AppendEntries("n1", hraft.ServerAddress(n.Addr()), heartbeat, &resp); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		n.driver.mu.Lock()
		driving := n.driver.stop != nil
		n.driver.mu.Unlock()
		return !n.IsLeader() && !driving && timeout() == DefaultHeartbeatTimeout,
			"after stepping down: leader " + map[bool]string{true: "yes", false: "no"}[n.IsLeader()] + ", driving " +
				map[bool]string{true: "yes", false: "no"}[driving] + ", heartbeat timeout " + timeout().String()
	})
}

// TestLoneVoterHeartbeatsNonvoters: a leadership check with a quorum of
// one asks nobody, so a leader that is the only voter heartbeats its
// non-voters on the library's timer under the backstop, often enough that
// they keep their leader.
func TestLoneVoterHeartbeatsNonvoters(t *testing.T) {
	n, _ := openLeader(t, t.TempDir(), testutil.Addr(t))
	defer n.Close()
	follower := startFakeFollower(t)
	if err := n.AddNonvoter("follower", string(follower.trans.LocalAddr())); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		_, hb := follower.counts()
		return hb > 0, "no heartbeat reached the non-voter"
	})
	// Under the backstop the library's timer sends a heartbeat a tenth to
	// a fifth of it after the last, which must come within the follower
	// timeout: 0.4 to 0.8 of it, so at least five in the window on an idle
	// machine; two leave room for a loaded one.
	if longest := n.driver.backstop / 5; longest >= DefaultHeartbeatTimeout {
		t.Fatalf("under a backstop of %v a non-voter may wait %v for a heartbeat, over its %v timeout", n.driver.backstop, longest, DefaultHeartbeatTimeout)
	}
	const window = 2 * time.Second
	if got := heartbeatsOver(follower, window); got < 2 {
		t.Fatalf("the non-voter heard %d heartbeats in %v", got, window)
	}
}
