package agent

import (
	"context"
	"time"

	"github.com/skiff-run/skiff/internal/pagerelease"
)

// releasePagesAfter is how long after it starts the agent gives back the
// pages of its binary that start-up touched (see internal/pagerelease). By
// then package initialisation, the flags and the first rounds of Raft,
// gossip and the node runner are long done, and what runs from then on is
// the idle working set, which faults its pages back in.
const releasePagesAfter = 30 * time.Second

// releasePages waits releasePagesAfter, or until ctx ends, and then drops
// the executable's read-only pages from the process's page tables once.
// About 20 MB of an idle agent's RSS is its binary, most of it code that
// ran once at start-up; the pages stay in the page cache, so this costs a
// few hundred minor faults and no disk reads as the code that still runs
// comes back. The log gives what left the page tables at once; RSS
// settles higher than that by what faults back.
func (a *Agent) releasePages(ctx context.Context) {
	t := time.NewTimer(releasePagesAfter)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	n, err := pagerelease.Release()
	if err != nil {
		a.log.Info("could not release the binary's start-up pages", "err", err)
		return
	}
	if n > 0 {
		a.log.Info("released the binary's start-up pages", "MB", float64(n*10/(1<<20))/10)
	}
}
