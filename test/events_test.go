package test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestClusterEvents follows a service's events from a follower, over
// Server-Sent Events with the cluster's token, while the service is
// applied through the leader, and checks that every replica keeps the
// same events, the leader's election among them.
func TestClusterEvents(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	leader := c.Leader()
	var follower *testcluster.Member
	for _, m := range c.Members {
		if m != leader {
			follower = m
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	items := make(chan api.StreamItem, 64)
	done := make(chan error, 1)
	go func() {
		done <- follower.Client().StreamEvents(ctx, api.EventsQuery{Topics: []string{"service:web"}}, func(it api.StreamItem) error {
			items <- it
			return nil
		})
	}()
	runService(t, c, "web", 2)
	started := map[string]bool{}
	var kinds []string
	for len(started) < 2 {
		select {
		case it := <-items:
			if it.Event == nil {
				t.Fatalf("stream says events up to %d were lost", it.LostThrough)
			}
			if it.Event.Service != "web" {
				t.Errorf("event %+v passed the filter service:web", it.Event)
			}
			kinds = append(kinds, it.Event.Kind)
			if it.Event.Kind == structs.EventTaskStarted {
				started[it.Event.Task] = true
			}
		case err := <-done:
			t.Fatalf("stream ended: %v; events so far %v", err, kinds)
		case <-ctx.Done():
			t.Fatalf("the follower's stream did not show both tasks started within a minute; it showed %v", kinds)
		}
	}
	if kinds[0] != structs.EventServiceApplied {
		t.Errorf("first event of web %s, want %s; events %v", kinds[0], structs.EventServiceApplied, kinds)
	}
	// The leader records its election after its barrier; wait for it
	// rather than race it.
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		ans, err := follower.Client().Events(ctx, api.EventsQuery{Topics: []string{"kind:" + structs.EventLeaderElected}})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range ans.Events {
			if e.Node == leader.Agent().ID() {
				return true, ""
			}
		}
		return false, fmt.Sprintf("election events %+v: none of leader %s", ans.Events, leader.Name)
	})
	c.EnsureSame(t)
}
