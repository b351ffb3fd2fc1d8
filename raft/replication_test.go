package raft

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// fakeFollower speaks Raft's wire protocol on a transport of its own and
// answers by hand, so that a test can make it refuse chosen appends, as a
// follower whose log diverged from the leader's does.
type fakeFollower struct {
	trans *hraft.NetworkTransport
	// reject, when set, makes the next append that carries entries fail;
	// the follower clears it.
	reject atomic.Bool
	mu     sync.Mutex
	last   uint64 // the last index it holds; guarded by mu
	// appended counts the appends with entries it accepted; guarded by mu.
	appended int
	// heartbeats counts the heartbeats it answered; guarded by mu.
	heartbeats int
}

func startFakeFollower(t *testing.T) *fakeFollower {
	t.Helper()
	trans, err := hraft.NewTCPTransport(testutil.Addr(t), nil, 3, 10*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFollower{trans: trans}
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case rpc := <-trans.Consumer():
				f.answer(rpc)
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		trans.Close()
	})
	return f
}

func (f *fakeFollower) answer(rpc hraft.RPC) {
	switch req := rpc.Command.(type) {
	case *hraft.AppendEntriesRequest:
		if len(req.Entries) > 0 {
			// A follower's disk takes a while, so that the leader has
			// further appends in flight when an answer comes back.
			time.Sleep(20 * time.Millisecond)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		resp := &hraft.AppendEntriesResponse{Term: req.Term, LastLog: f.last}
		switch {
		case len(req.Entries) == 0 && req.PrevLogEntry == 0:
			f.heartbeats++
			resp.Success = true
		case req.PrevLogEntry > f.last:
			resp.NoRetryBackoff = true
		case len(req.Entries) > 0 && f.reject.CompareAndSwap(true, false):
			resp.NoRetryBackoff = true
		default:
			f.last = max(f.last, req.PrevLogEntry+uint64(len(req.Entries)))
			resp.LastLog, resp.Success = f.last, true
			if len(req.Entries) > 0 {
				f.appended++
			}
		}
		rpc.Respond(resp, nil)
	default:
		rpc.Respond(nil, io.ErrUnexpectedEOF)
	}
}

func (f *fakeFollower) counts() (appended, heartbeats int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.appended, f.heartbeats
}

// TestReplicationSurvivesRefusedAppends: a follower that refuses an append
// while others are in flight (its log diverged, as an old leader's does
// after it was paused and comes back) is replicated to again, round after
// round. hashicorp/raft's pipelined replication can wedge on such a
// refusal for good (hashicorp/raft#612): the leader's replication to that
// follower stops while its heartbeats go on, so the follower never calls
// an election that would heal it and its replica stops moving.
func TestReplicationSurvivesRefusedAppends(t *testing.T) {
	n, _ := openLeader(t, t.TempDir(), testutil.Addr(t))
	// A wedged replicator also holds up Shutdown, so a node found wedged
	// is left open rather than hang the test.
	wedged := false
	defer func() {
		if !wedged {
			n.Close()
		}
	}()
	follower := startFakeFollower(t)
	if err := n.AddNonvoter("follower", string(follower.trans.LocalAddr())); err != nil {
		t.Fatal(err)
	}

	// The leader keeps writing, so that its replicator always has new
	// entries to send when the refusal comes back.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var writers sync.WaitGroup
	writers.Add(1)
	go func() {
		defer writers.Done()
		for i := 0; ctx.Err() == nil; i++ {
			cmd := mustEncode(t, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n" + string(rune('a'+i%26))}})
			n.Apply(ctx, cmd, time.Second)
		}
	}()
	defer writers.Wait()
	defer stop()

	const rounds = 20
	for round := range rounds {
		before, _ := follower.counts()
		follower.reject.Store(true)
		deadline := time.Now().Add(5 * time.Second)
		for {
			appended, heartbeats := follower.counts()
			if !follower.reject.Load() && appended >= before+3 {
				break
			}
			if time.Now().After(deadline) {
				wedged = true
				t.Fatalf("round %d of %d: 5s after refusing an append the follower got %d more appends (%d heartbeats in all): the leader stopped replicating to it",
					round+1, rounds, appended-before, heartbeats)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// TestHeartbeatOfANewTermWritesNothingInIt: a leader that hears a
// heartbeat of a newer term (it was paused, and the others elected a
// leader meanwhile) steps down without writing a single entry of that
// term, which is not its own. hashicorp/raft handles heartbeats outside
// its main loop, so that the term changes under a leader that keeps
// taking writes, and the next of them entered its log with the new
// leader's term (hashicorp/raft#695): the new leader's entries at the
// same index carry the same term, so Raft took the logs to match, and
// the old leader's replica applied a command the cluster never committed.
func TestHeartbeatOfANewTermWritesNothingInIt(t *testing.T) {
	n, _ := openLeader(t, t.TempDir(), testutil.Addr(t))
	defer n.Close()
	// Raft waits on leadership notifications, and every round brings two.
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			select {
			case <-n.LeaderCh():
			case <-quit:
				return
			}
		}
	}()
	other, err := hraft.NewTCPTransport(testutil.Addr(t), nil, 1, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	const rounds = 10
	for round := range rounds {
		testutil.Eventually(t, 10*time.Second, func() (bool, string) { return n.IsLeader(), "the node does not lead again" })
		term, err := strconv.ParseUint(n.raft.Stats()["term"], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		// A client keeps writing, a little at a time, as the nemesis's
		// does.
		ctx, stop := context.WithCancel(context.Background())
		written := make(chan struct{})
		go func() {
			defer close(written)
			for i := 0; ctx.Err() == nil; i++ {
				cmd := mustEncode(t, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: fmt.Sprintf("n%d", i%10)}})
				n.Apply(ctx, cmd, time.Second)
				time.Sleep(time.Millisecond)
			}
		}()
		time.Sleep(50 * time.Millisecond)
		heartbeat := &hraft.AppendEntriesRequest{
			RPCHeader: hraft.RPCHeader{ProtocolVersion: hraft.ProtocolVersionMax, ID: []byte("other"), Addr: []byte(other.LocalAddr())},
			Term:      term + 1,
		}
		var resp hraft.AppendEntriesResponse
		err = other.AppendEntries("n1", hraft.ServerAddress(n.Addr()), heartbeat, &resp)
		time.Sleep(50 * time.Millisecond)
		stop()
		<-written
		if err != nil {
			t.Fatalf("round %d of %d: the heartbeat of term %d: %v", round+1, rounds, term+1, err)
		}
		first, _ := n.store.FirstIndex()
		last, _ := n.store.LastIndex()
		for i := first; i <= last; i++ {
			var l hraft.Log
			if err := n.store.GetLog(i, &l); err != nil {
				t.Fatal(err)
			}
			if l.Term == term+1 {
				t.Fatalf("round %d of %d: the leader of term %d wrote entry %d (%s) in term %d, which another server leads",
					round+1, rounds, term, i, l.Type, l.Term)
			}
		}
	}
}
