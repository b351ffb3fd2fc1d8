package scheduler

import (
	"fmt"
	"strings"

	"github.com/skiff-run/skiff/fsm"
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

// ParseExpression parses a memberOf expression of the form
// "attribute:KEY == VALUE" or "attribute:KEY != VALUE".
func ParseExpression(expr string) (key, value string, equal bool, err error) {
	op := "=="
	i := strings.Index(expr, "==")
	if i < 0 {
		op = "!="
		i = strings.Index(expr, "!=")
	}
	if i < 0 {
		return "", "", false, fmt.Errorf("expression %q: want attribute:KEY == VALUE or attribute:KEY != VALUE", expr)
	}
	lhs, rhs := strings.TrimSpace(expr[:i]), strings.TrimSpace(expr[i+len(op):])
	key, found := strings.CutPrefix(lhs, "attribute:")
	if !found || key == "" || rhs == "" || strings.ContainsAny(rhs, " =!") {
		return "", "", false, fmt.Errorf("expression %q: want attribute:KEY == VALUE or attribute:KEY != VALUE", expr)
	}
	return key, rhs, op == "==", nil
}

// ValidateConstraint reports whether the scheduler understands c.
func ValidateConstraint(c fsm.PlacementConstraint) error {
	_, err := buildFilter(c)
	return err
}

func buildFilter(c fsm.PlacementConstraint) (filter, error) {
	switch c.Type {
	case "distinctInstance":
		if c.Expression != "" {
			return nil, fmt.Errorf("distinctInstance takes no expression")
		}
		return distinctInstance{}, nil
	case "memberOf":
		k, v, eq, err := ParseExpression(c.Expression)
		if err != nil {
			return nil, err
		}
		return memberOf{key: k, value: v, equal: eq, expr: c.Expression}, nil
	}
	return nil, fmt.Errorf("type %q: want distinctInstance or memberOf", c.Type)
}

func buildFilters(cs []fsm.PlacementConstraint) ([]filter, error) {
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
