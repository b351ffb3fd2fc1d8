package agent

import (
	"context"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/distribution/reference"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/runtime"
)

// imageGCInterval is how often the agent looks at its engine's images and
// the disk of its data root: once a minute costs an idle agent two engine
// calls a minute.
const imageGCInterval = time.Minute

// imageGC removes images that no task of this node references once they
// have gone unreferenced for after, oldest first, while the disk of the
// engine's data root is fuller than high percent. Only its run goroutine
// uses it.
type imageGC struct {
	rt    runtime.ImageCollector
	node  string
	after time.Duration
	high  float64
	log   *slog.Logger
	// diskPercent is the data root's fullness the last round found, for
	// the node's registration; the runner reads it from its goroutine.
	diskPercent atomic.Int64
	// unusedSince is, by image id, when this agent first saw the image
	// referenced by no task of the node. An agent that starts sees every
	// unreferenced image for the first time, so none goes before after
	// has passed since the start.
	unusedSince map[string]time.Time
}

// run does a round at once, so that the node registers its disk's
// fullness soon after it starts, and then one every imageGCInterval. A
// first round over a state not yet replayed may take an image in use for
// unused; the next round sees it used, long before after has passed.
func (g *imageGC) run(ctx context.Context, state fsm.Replica) {
	tick := time.NewTicker(imageGCInterval)
	defer tick.Stop()
	for {
		if _, err := g.collect(ctx, time.Now(), nodeImageRefs(state.State(), g.node)); err != nil && ctx.Err() == nil {
			g.log.Warn("image clean-up", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// collect is one round: it notes which images are unreferenced since
// when, and when the disk is over high removes the images unreferenced
// for after, oldest first, until it is not. It returns the ids removed.
func (g *imageGC) collect(ctx context.Context, now time.Time, refs imageRefs) ([]string, error) {
	images, err := g.rt.Images(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, im := range images {
		seen[im.ID] = true
		if refs.references(im) {
			delete(g.unusedSince, im.ID)
		} else if _, ok := g.unusedSince[im.ID]; !ok {
			g.unusedSince[im.ID] = now
		}
	}
	for id := range g.unusedSince {
		if !seen[id] {
			delete(g.unusedSince, id)
		}
	}
	used, total, err := g.rt.DataRootUsage(ctx)
	if err != nil {
		return nil, err
	}
	g.notePercent(used, total)
	var removed []string
	for _, im := range gcCandidates(images, refs, g.unusedSince, now, g.after) {
		if total == 0 || float64(used)*100/float64(total) <= g.high {
			break
		}
		if err := g.rt.RemoveImage(ctx, im.ID); err != nil {
			// An image a container still uses (a stranger's, say) stays.
			g.log.Info("image not removed", "image", im.ID, "tags", im.Tags, "err", err)
			continue
		}
		g.log.Info("removed an image no task of this node uses", "image", im.ID, "tags", im.Tags, "unused since", g.unusedSince[im.ID])
		delete(g.unusedSince, im.ID)
		removed = append(removed, im.ID)
		if used, total, err = g.rt.DataRootUsage(ctx); err != nil {
			return removed, err
		}
		g.notePercent(used, total)
	}
	return removed, nil
}

func (g *imageGC) notePercent(used, total uint64) {
	if total > 0 {
		g.diskPercent.Store(int64(used * 100 / total))
	}
}

// gcCandidates are the images that refs does not reference and that have
// gone unreferenced for after by now, those unreferenced longest first
// (the oldest built first among equals).
func gcCandidates(images []runtime.Image, refs imageRefs, unusedSince map[string]time.Time, now time.Time, after time.Duration) []runtime.Image {
	var out []runtime.Image
	for _, im := range images {
		since, ok := unusedSince[im.ID]
		if ok && !refs.references(im) && now.Sub(since) >= after {
			out = append(out, im)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := unusedSince[out[i].ID], unusedSince[out[j].ID]
		if !a.Equal(b) {
			return a.Before(b)
		}
		return out[i].Created.Before(out[j].Created)
	})
	return out
}

// imageRefs are the image references of a node's tasks, in the engine's
// familiar form (docker.io/library/busybox is busybox): tags, ":latest"
// when none is given, and the repositories of references by digest, whose
// images the listing names by tag only. A reference that does not parse
// is kept as it is.
type imageRefs struct {
	tags, repos map[string]bool
}

// nodeImageRefs collects the images of every task the state places on
// node, stopped ones included: a task still in the state may start again
// on the node, and its image is not the clean-up's to take.
func nodeImageRefs(st *fsm.State, node string) imageRefs {
	refs := imageRefs{tags: map[string]bool{}, repos: map[string]bool{}}
	for _, t := range st.TasksByNode(node) {
		td := st.TaskDefinition(t.TaskDefinition)
		if td == nil {
			continue
		}
		for _, cd := range td.ContainerDefinitions {
			refs.add(cd.Image)
		}
	}
	return refs
}

func (r imageRefs) add(ref string) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		r.tags[ref] = true
		return
	}
	if _, ok := named.(reference.Digested); ok {
		r.repos[reference.FamiliarName(named)] = true
		return
	}
	r.tags[reference.FamiliarString(reference.TagNameOnly(named))] = true
}

// references tells whether an image is one of the references: by a tag,
// by the repository of a digest reference, or by its id.
func (r imageRefs) references(im runtime.Image) bool {
	if r.tags[im.ID] || r.repos[im.ID] {
		return true
	}
	for _, tag := range im.Tags {
		repo := tag
		if named, err := reference.ParseNormalizedNamed(tag); err == nil {
			repo = reference.FamiliarName(named)
		}
		if r.tags[tag] || r.repos[repo] {
			return true
		}
	}
	return false
}
