package scheduler

import (
	"fmt"

	"github.com/skiff-run/skiff/structs"
)

// filter is a placement constraint: it excludes nodes.
type filter interface {
	ok(ns *nodeState) bool
	String() string
}

// distinctInstance keeps two tasks of one service off the same node.
type distinctInstance struct{}

func (distinctInstance) ok(ns *nodeState) bool { return ns.svcTasks == 0 }
func (distinctInstance) String() string        { return "distinctInstance" }

// memberOf compares a node attribute with a value.
type memberOf struct{ c structs.Constraint }

func (m memberOf) ok(ns *nodeState) bool { return m.c.Admits(ns.node) }
func (m memberOf) String() string        { return "memberOf " + m.c.Expression }

func buildFilter(c structs.PlacementConstraint) (filter, error) {
	pc, err := c.Parse()
	if err != nil {
		return nil, err
	}
	if pc.Distinct {
		return distinctInstance{}, nil
	}
	return memberOf{c: pc}, nil
}

func buildFilters(cs []structs.PlacementConstraint) ([]filter, error) {
	out := make([]filter, 0, len(cs))
	for _, c := range cs {
		f, err := buildFilter(c)
		if err != nil {
			return nil, fmt.Errorf("placement constraint: %w", err)
		}
		out = append(out, f)
	}
	return out, nil
}
