package agent

import (
	"context"
	"net/http"

	"github.com/skiff-run/skiff/metrics"
	"github.com/skiff-run/skiff/structs"
)

// metricsSource is the agent as the metrics read it when scraped.
type metricsSource struct{ a *Agent }

func (s metricsSource) Raft() metrics.RaftStatus {
	r := s.a.raft.Status()
	return metrics.RaftStatus{IsLeader: r.IsLeader, LastIndex: r.LastIndex, CommitIndex: r.CommitIndex, AppliedIndex: r.AppliedIndex,
		LeaderChanges: r.LeaderChanges}
}

func (s metricsSource) MemberStates() map[string]int {
	out := map[string]int{}
	for _, m := range s.a.ring.Members() {
		out[m.Status]++
	}
	return out
}

func (s metricsSource) Reservations() []structs.NodeUsage {
	st := s.a.fsm.State()
	nodes := st.Nodes()
	out := make([]structs.NodeUsage, len(nodes))
	for i, n := range nodes {
		out[i] = nodeReservations(n, st.TasksByNode(n.ID))
	}
	return out
}

func (s metricsSource) Usage(ctx context.Context) (structs.NodeUsage, error) { return s.a.Usage(ctx) }

// Metrics implements api.Backend.
func (a *Agent) Metrics() http.Handler { return a.metrics.Handler() }
