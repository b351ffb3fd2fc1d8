package api

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// watchingFake is the fake backend with a change channel, as an agent's
// replica has.
type watchingFake struct {
	*fakeBackend
	mu      sync.Mutex
	changed chan struct{}
}

func (w *watchingFake) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

// change applies a change to the state and wakes the watchers.
func (w *watchingFake) change(f func(s *fakeState)) {
	w.fakeBackend.mu.Lock()
	w.fakeBackend.update(f)
	w.fakeBackend.mu.Unlock()
	w.mu.Lock()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// A blocking query on pending tasks answers once the state moves past the
// index it names, with the new index and the new task; without a change
// it answers when its wait ends.
func TestPendingBlocks(t *testing.T) {
	w := &watchingFake{fakeBackend: newFake(), changed: make(chan struct{})}
	srv := httptest.NewServer(NewHandler(w, (&logBuffer{}).logger(), Options{}))
	defer srv.Close()
	cl := NewClient(srv.URL, nil)
	ctx := context.Background()
	p, err := cl.Pending(ctx, "web", 7, 50*time.Millisecond)
	if err != nil || p.Index != 7 || len(p.Tasks) != 0 {
		t.Fatalf("a wait without change: %+v, %v", p, err)
	}
	got := make(chan PendingTasks, 1)
	go func() {
		p, err := cl.Pending(ctx, "web", 7, time.Minute)
		if err != nil {
			t.Error(err)
		}
		got <- p
	}()
	select {
	case p := <-got:
		t.Fatalf("answered %+v before anything changed", p)
	case <-time.After(100 * time.Millisecond):
	}
	w.change(func(s *fakeState) {
		s.index = 8
		s.tasks = append(s.tasks, &structs.Task{ID: "eeee6666", Service: "web", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending})
	})
	select {
	case p := <-got:
		if p.Index != 8 || len(p.Tasks) != 1 || p.Tasks[0].ID != "eeee6666" {
			t.Fatalf("after the change: %+v", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocking query did not answer the change")
	}
}
