package command

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestPsWatch lets ps --watch print three rounds, then ends its context,
// as Ctrl-C would; the rounds are a blank line apart on a writer that is
// not a terminal.
func TestPsWatch(t *testing.T) {
	f := clusterAPI(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			n := 0
			for _, r := range f.got() {
				if strings.HasPrefix(r, "GET /v1/tasks") {
					n++
				}
			}
			if n >= 3 {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var out, errs strings.Builder
	e := &env{stdin: strings.NewReader(""), now: func() time.Time { return now }, ctx: ctx}
	code := e.run([]string{"skiff", "--addr", f.URL, "ps", "--watch", "--interval", "10ms", "-o", "json"}, &out, &errs)
	if code != 0 || errs.String() != "" {
		t.Fatalf("exit code %d, stderr %q", code, errs.String())
	}
	rounds := strings.Split(out.String(), "\n\n")
	if len(rounds) < 3 {
		t.Fatalf("%d rounds printed, want at least 3:\n%s", len(rounds), out.String())
	}
	for i, r := range rounds {
		if !strings.HasPrefix(r, "[\n  {") {
			t.Errorf("round %d printed %.40q…, want the tasks", i, r)
		}
	}
}

// TestPsWatchFirstRoundFails ends a watch whose first round fails.
func TestPsWatchFirstRoundFails(t *testing.T) {
	f := newFakeAPI(t, nil)
	r := skiffAt(f, "ps", "--watch")
	if r.code != 1 || !strings.Contains(r.stderr, "the fake API has no answer for GET /v1/tasks") {
		t.Errorf("exit code %d, stderr %q", r.code, r.stderr)
	}
	r = skiffAt(f, "ps", "--watch", "--interval", "0s")
	if r.code != 1 || r.stderr != "skiff: --interval 0s: expected a positive duration such as 2s\n" {
		t.Errorf("exit code %d, stderr %q", r.code, r.stderr)
	}
}
