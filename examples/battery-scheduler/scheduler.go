package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/structs"
)

// Scheduler places the pending tasks of one service whose scheduler is
// external on the ready, eligible node of its pool with the most charge
// left, as the node attribute Attribute (a percentage, such as
// battery=87) says; nodes without the attribute take none. It knows
// nothing of resources: the cluster checks every placement and refuses
// one that does not fit, with the reason, and the scheduler then tries the
// node with the next most charge.
//
// Run may be stopped at any time: the cluster keeps the tasks pending,
// and a scheduler started later places them. A placement whose answer
// was lost (a leader failover, say) is not placed twice: the cluster
// refuses the second placement of a task, and the next round no longer
// lists it.
type Scheduler struct {
	Client    *api.Client
	Service   string
	Attribute string
	// Wait is how long one blocking query waits for a change.
	Wait time.Duration
	Log  *slog.Logger
}

// Run places tasks until ctx ends. Errors of the cluster (no leader yet,
// an agent restarting) are logged and retried a second later.
func (s *Scheduler) Run(ctx context.Context) error {
	var index uint64
	for ctx.Err() == nil {
		p, err := s.Client.Pending(ctx, s.Service, index, s.Wait)
		if err == nil {
			index = p.Index
			err = s.placeAll(ctx, p)
		}
		if err != nil && ctx.Err() == nil {
			s.Log.Warn("placing failed; retrying", "service", s.Service, "err", err)
			// The next query must not block on an index that a failed
			// round did not act on.
			index = 0
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return ctx.Err()
}

// placeAll places every pending task of one answer.
func (s *Scheduler) placeAll(ctx context.Context, p api.PendingTasks) error {
	candidates := Rank(p.Nodes, s.Attribute)
	for _, t := range p.Tasks {
		if err := s.place(ctx, t, candidates); err != nil {
			return err
		}
	}
	return nil
}

// place tries the candidates in turn until one takes the task. It returns
// nil when the task is placed (by this call or an earlier one) or when no
// candidate has room, which a later change may give it, and an error when
// the cluster could not answer.
func (s *Scheduler) place(ctx context.Context, t *structs.Task, candidates []*structs.Node) error {
	for _, n := range candidates {
		_, err := s.Client.PlaceTask(ctx, t.ID, n.ID)
		var ae *api.Error
		switch {
		case err == nil:
			s.Log.Info("placed", "task", t.ID, "node", n.Name, s.Attribute, n.Attributes[s.Attribute])
			return nil
		case errors.As(err, &ae) && ae.Status == http.StatusConflict && strings.Contains(ae.Message, "already placed"):
			return nil
		case errors.As(err, &ae) && ae.Status == http.StatusConflict:
			s.Log.Info("node refused the task", "task", t.ID, "node", n.Name, "reason", ae.Message)
		default:
			return fmt.Errorf("place task %s on %s: %w", t.ID, n.Name, err)
		}
	}
	s.Log.Warn("no node with charge can take the task", "task", t.ID, "nodes", len(candidates))
	return nil
}

// Rank orders the nodes that may take tasks by the attribute, most charge
// first, ties by name; a node that is down, drained, or whose attribute
// is missing or not a number is left out.
func Rank(nodes []*structs.Node, attribute string) []*structs.Node {
	type ranked struct {
		n      *structs.Node
		charge float64
	}
	var rs []ranked
	for _, n := range nodes {
		if n.Status != structs.NodeReady || n.Eligibility != structs.EligibilityEligible {
			continue
		}
		v, err := strconv.ParseFloat(n.Attributes[attribute], 64)
		if err != nil {
			continue
		}
		rs = append(rs, ranked{n, v})
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].charge != rs[j].charge {
			return rs[i].charge > rs[j].charge
		}
		return rs[i].n.Name < rs[j].n.Name
	})
	out := make([]*structs.Node, len(rs))
	for i, r := range rs {
		out[i] = r.n
	}
	return out
}
