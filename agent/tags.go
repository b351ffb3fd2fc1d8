package agent

import (
	"fmt"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/structs"
)

// tagsWritable refuses a write that carries tags while some Raft server
// may run a release that does not know them. Such a replica would drop the
// tags as it decodes the entry, and worse, a task definition that differs
// from its family's newest revision only in its tags would be a new
// revision on the other replicas and none on it, so that the replicas
// number revisions apart. Every release that knows tags applies this
// build's newest command type, which servers gossip. A node's own --tag
// labels are registered regardless: an older replica loses only them.
func (a *Agent) tagsWritable(svc *structs.Service, tds ...*structs.TaskDefinition) error {
	tagged := svc != nil && len(svc.Tags) > 0
	for _, td := range tds {
		tagged = tagged || td != nil && len(td.Tags) > 0
	}
	if !tagged {
		return nil
	}
	if err := a.commit.supported(fsm.Newest()); err != nil {
		return fmt.Errorf("tags: %w", err)
	}
	return nil
}
