package structs

import (
	"fmt"
	"strings"
)

// Strategy is a placement strategy once parsed: what the scheduler acts
// on. PlacementStrategy is what a user writes.
type Strategy struct {
	// Type is binpack, spread or random.
	Type string
	// CPU makes binpack fill cpu instead of memory.
	CPU bool
	// Attribute is the node attribute spread balances over; empty spreads
	// over nodes.
	Attribute string
}

// Parse checks a strategy and returns its parsed form.
func (s PlacementStrategy) Parse() (Strategy, error) {
	switch s.Type {
	case "binpack":
		switch s.Field {
		case "", "memory":
			return Strategy{Type: "binpack"}, nil
		case "cpu":
			return Strategy{Type: "binpack", CPU: true}, nil
		}
		return Strategy{}, fmt.Errorf("binpack field %q: want memory or cpu", s.Field)
	case "spread":
		switch s.Field {
		case "", "node", "host", "instanceId":
			return Strategy{Type: "spread"}, nil
		}
		if k, ok := strings.CutPrefix(s.Field, "attribute:"); ok && k != "" {
			return Strategy{Type: "spread", Attribute: k}, nil
		}
		return Strategy{}, fmt.Errorf("spread field %q: want node or attribute:KEY", s.Field)
	case "random":
		if s.Field != "" {
			return Strategy{}, fmt.Errorf("random takes no field")
		}
		return Strategy{Type: "random"}, nil
	}
	return Strategy{}, fmt.Errorf("type %q: want binpack, spread or random", s.Type)
}

// Constraint is a placement constraint once parsed.
type Constraint struct {
	// Distinct is distinctInstance: at most one task of the service per
	// node. Otherwise the constraint is memberOf on Key and Value.
	Distinct bool
	Key      string
	Value    string
	// Equal is true for ==, false for !=.
	Equal bool
	// Expression is the memberOf expression as written, for explanations.
	Expression string
}

// Admits reports whether a node passes a memberOf constraint on its
// attributes alone; distinctInstance, which depends on the node's tasks,
// admits every node.
func (c Constraint) Admits(n *Node) bool {
	if c.Distinct {
		return true
	}
	v, has := n.Attributes[c.Key]
	if c.Equal {
		return has && v == c.Value
	}
	return !has || v != c.Value
}

// Parse checks a constraint and returns its parsed form.
func (c PlacementConstraint) Parse() (Constraint, error) {
	switch c.Type {
	case "distinctInstance":
		if c.Expression != "" {
			return Constraint{}, fmt.Errorf("distinctInstance takes no expression")
		}
		return Constraint{Distinct: true}, nil
	case "memberOf":
		k, v, eq, err := ParseExpression(c.Expression)
		if err != nil {
			return Constraint{}, err
		}
		return Constraint{Key: k, Value: v, Equal: eq, Expression: c.Expression}, nil
	}
	return Constraint{}, fmt.Errorf("type %q: want distinctInstance or memberOf", c.Type)
}

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

// Why a node could not take a task, as the scheduler reports it.
const (
	ReasonNodeStatus   = "nodeStatus"   // the node is down
	ReasonIneligible   = "ineligible"   // the node is drained
	ReasonConstraint   = "constraint"   // a placement constraint excludes it
	ReasonCPU          = "cpu"          // not enough cpu units free
	ReasonMemory       = "memory"       // not enough memory free
	ReasonHostPort     = "hostPort"     // a static host port is taken
	ReasonDynamicPorts = "dynamicPorts" // the dynamic port range is used up
	ReasonGPU          = "gpu"          // not enough GPUs free
	ReasonNoNodes      = "noNodes"      // no node is registered
	ReasonInvalid      = "invalid"      // the job itself cannot be planned
	ReasonHostPath     = "hostPath"     // the node does not allow a host path the task bind mounts
	ReasonPrivileged   = "privileged"   // the node does not allow what Privileges lists
	ReasonDependency   = "dependency"   // a service it depends on is not ready yet
	ReasonCluster      = "cluster"      // the node is in another pool
	// ReasonListenerPort: a static host port is a load balancer's
	// listener port, which every agent listens on.
	ReasonListenerPort = "listenerPort"
)

// PlacementReason counts the nodes that refused a task for one reason.
type PlacementReason struct {
	Kind  string `json:"kind"`
	Nodes int    `json:"nodes"`
	// Detail is the constraint, node status or port concerned.
	Detail string `json:"detail,omitempty"`
	// Need and MostFree are the amounts asked for and the most any ready
	// node has free, for cpu and memory reasons.
	Need     int64 `json:"need,omitempty"`
	MostFree int64 `json:"mostFree,omitempty"`
}

func (r PlacementReason) String() string {
	noun := plural(r.Nodes, "node")
	switch r.Kind {
	case ReasonMemory:
		return fmt.Sprintf("%d %s lack memory (need %d MiB, most free %d MiB)", r.Nodes, noun, r.Need, r.MostFree)
	case ReasonCPU:
		return fmt.Sprintf("%d %s lack cpu (need %d units, most free %d)", r.Nodes, noun, r.Need, r.MostFree)
	case ReasonGPU:
		return fmt.Sprintf("%d %s lack GPUs (need %d, most free %d)", r.Nodes, noun, r.Need, r.MostFree)
	case ReasonDynamicPorts:
		return fmt.Sprintf("%d %s have no free dynamic host port", r.Nodes, noun)
	case ReasonHostPort:
		return fmt.Sprintf("%d %s: host port %s in use", r.Nodes, noun, r.Detail)
	case ReasonListenerPort:
		return fmt.Sprintf("%d %s: host port %s", r.Nodes, noun, r.Detail)
	case ReasonNodeStatus, ReasonIneligible:
		return fmt.Sprintf("%d %s: node is %s", r.Nodes, noun, r.Detail)
	case ReasonConstraint:
		return fmt.Sprintf("%d %s excluded by constraint %s", r.Nodes, noun, r.Detail)
	case ReasonHostPath:
		verb := "do"
		if r.Nodes == 1 {
			verb = "does"
		}
		return fmt.Sprintf("%d %s %s not allow host path %s (agent flag --allow-host-path)", r.Nodes, noun, verb, r.Detail)
	case ReasonPrivileged:
		verb := "do"
		if r.Nodes == 1 {
			verb = "does"
		}
		return fmt.Sprintf("%d %s %s not allow privileged containers (agent flag --allow-privileged): the task asks for %s", r.Nodes, noun, verb, r.Detail)
	}
	return r.Detail
}

// PlacementFailure explains why Count tasks of a definition could not be
// placed. The leader stores it on the service, so that every replica can
// tell why a service is short of tasks.
type PlacementFailure struct {
	Count          int    `json:"count"`
	TaskDefinition string `json:"taskDefinition"`
	CPU            int64  `json:"cpu"`
	MemoryMiB      int64  `json:"memory"`
	// Nodes is how many nodes were considered.
	Nodes   int               `json:"nodes"`
	Reasons []PlacementReason `json:"reasons"`
	// Node is the node the placement was asked for, when one was named
	// (run --node, or an outside scheduler's placement).
	Node string `json:"node,omitempty"`
}

// String is the explanation people read, e.g. "unable to place 1 task(s):
// 0 of 3 nodes can run web:1 (cpu 64, memory 512 MiB): 2 nodes lack memory
// (need 512 MiB, most free 256 MiB); 1 node excluded by constraint
// memberOf attribute:zone == a".
func (f *PlacementFailure) String() string {
	if f == nil {
		return ""
	}
	head := fmt.Sprintf("unable to place %d task(s): ", f.Count)
	if f.Node != "" {
		head = fmt.Sprintf("unable to place %d task(s) on node %s: ", f.Count, f.Node)
	}
	if len(f.Reasons) == 1 && (f.Reasons[0].Kind == ReasonNoNodes || f.Reasons[0].Kind == ReasonInvalid || f.Reasons[0].Kind == ReasonDependency || f.Reasons[0].Kind == ReasonCluster) {
		return head + f.Reasons[0].Detail
	}
	parts := make([]string, len(f.Reasons))
	for i, r := range f.Reasons {
		parts[i] = r.String()
	}
	return head + fmt.Sprintf("0 of %d %s can run %s (cpu %d, memory %d MiB): %s",
		f.Nodes, plural(f.Nodes, "node"), f.TaskDefinition, f.CPU, f.MemoryMiB, strings.Join(parts, "; "))
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// PlacementError refuses a placement that was asked for on a named node
// and does not fit there; it carries the scheduler's explanation and
// matches ErrConflict.
type PlacementError struct{ Failure *PlacementFailure }

func (e *PlacementError) Error() string { return e.Failure.String() }

func (e *PlacementError) Unwrap() error { return ErrConflict }
