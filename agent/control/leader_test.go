package control

import (
	"slices"
	"testing"
	"time"

	"github.com/skiff-run/skiff/structs"
)

func TestBackoffDelay(t *testing.T) {
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, w := range want {
		if got := backoffDelay(i, structs.RestartPolicy{MaxBackoffSeconds: 8}); got != w {
			t.Errorf("failures %d: %s, want %s", i, got, w)
		}
	}
	if got := backoffDelay(40, structs.RestartPolicy{}); got != defaultMaxBackoff {
		t.Errorf("cap: %s", got)
	}
}

// Task ids sort in the order they were made, so that a plan's tasks sit
// together in the state store's trees, and their short form (the end) is
// not shared by the tasks made in the same moment.
func TestTaskIDsSortByCreation(t *testing.T) {
	ids := make([]string, 1000)
	tails := map[string]bool{}
	for i := range ids {
		ids[i] = newTaskID()
		tails[ids[i][len(ids[i])-8:]] = true
	}
	if !slices.IsSorted(ids) {
		t.Fatal("task ids made one after the other do not sort in that order")
	}
	if len(tails) != len(ids) {
		t.Fatalf("%d of %d ids share their last 8 characters", len(ids)-len(tails), len(ids))
	}
}
