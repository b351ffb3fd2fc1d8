package control

import (
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
