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
type memberOf struct {
	key, value string
	equal      bool
	expr       string
}

func (m memberOf) ok(ns *nodeState) bool {
	v, has := ns.node.Attributes[m.key]
	if m.equal {
		return has && v == m.value
	}
	return !has || v != m.value
}

func (m memberOf) String() string { return "memberOf " + m.expr }

func buildFilter(c structs.PlacementConstraint) (filter, error) {
	pc, err := c.Parse()
	if err != nil {
		return nil, err
	}
	if pc.Distinct {
		return distinctInstance{}, nil
	}
	return memberOf{key: pc.Key, value: pc.Value, equal: pc.Equal, expr: pc.Expression}, nil
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
