package test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/structs"
)

// BenchmarkEventsDelay measures how long a state change takes to reach a
// client that follows the events of a follower: from just before a scale
// is sent to the leader to the arrival of its service.scaled event, over
// Server-Sent Events and by long poll, in an in-process cluster of three
// voters. It reports the median and the 99th percentile of each; the
// delay includes the Raft commit, as a user waiting on a change sees it.
func BenchmarkEventsDelay(b *testing.B) {
	const changes = 200
	c := testcluster.New(b, 3, 3)
	leader := c.Leader()
	var follower *testcluster.Member
	for _, m := range c.Members {
		if m != leader {
			follower = m
			break
		}
	}
	if _, err := leader.Client().ApplyService(context.Background(), "bench", svcFile("bench", 0, "img")); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		sse := eventsDelays(b, leader, changes, func(ctx context.Context, since uint64, got chan<- *structs.Event) error {
			return follower.Client().StreamEvents(ctx, api.EventsQuery{Since: since, Topics: []string{"kind:" + structs.EventServiceScaled}}, func(it api.StreamItem) error {
				if it.Event != nil {
					got <- it.Event
				}
				return nil
			})
		})
		poll := eventsDelays(b, leader, changes, func(ctx context.Context, since uint64, got chan<- *structs.Event) error {
			for ctx.Err() == nil {
				ans, err := follower.Client().Events(ctx, api.EventsQuery{Since: since, Block: true, Topics: []string{"kind:" + structs.EventServiceScaled}})
				if err != nil {
					return err
				}
				for _, e := range ans.Events {
					got <- e
				}
				since = ans.Index
			}
			return nil
		})
		b.ReportMetric(percentile(sse, 50), "sse-median-ms")
		b.ReportMetric(percentile(sse, 99), "sse-p99-ms")
		b.ReportMetric(percentile(poll, 50), "poll-median-ms")
		b.ReportMetric(percentile(poll, 99), "poll-p99-ms")
	}
}

// eventsDelays scales the service n times, one change at a time, and
// returns how long each change's event took to reach follow, in
// milliseconds.
func eventsDelays(b *testing.B, leader *testcluster.Member, n int, follow func(ctx context.Context, since uint64, got chan<- *structs.Event) error) []float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	h, err := leader.Client().Health(ctx)
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan *structs.Event, 16)
	done := make(chan error, 1)
	go func() { done <- follow(ctx, h.Index, got) }()
	var out []float64
	for i := 1; i <= n; i++ {
		start := time.Now()
		if _, err := leader.Client().Scale(ctx, "bench", i%2); err != nil {
			b.Fatal(err)
		}
		want := fmt.Sprintf("scaled from %d to %d", (i+1)%2, i%2)
	wait:
		for {
			select {
			case e := <-got:
				if strings.HasSuffix(e.Message, want) {
					break wait
				}
			case err := <-done:
				b.Fatalf("the event stream ended: %v", err)
			case <-ctx.Done():
				b.Fatal("no event within five minutes")
			}
		}
		out = append(out, float64(time.Since(start).Microseconds())/1000)
	}
	cancel()
	<-done
	return out
}

func percentile(xs []float64, p int) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}
