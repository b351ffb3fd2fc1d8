package structs

import (
	"strings"
	"testing"
)

func TestParseStrategy(t *testing.T) {
	for _, tc := range []struct {
		in   PlacementStrategy
		want Strategy
		err  string
	}{
		{PlacementStrategy{Type: "binpack"}, Strategy{Type: "binpack"}, ""},
		{PlacementStrategy{Type: "binpack", Field: "cpu"}, Strategy{Type: "binpack", CPU: true}, ""},
		{PlacementStrategy{Type: "binpack", Field: "disk"}, Strategy{}, `binpack field "disk"`},
		{PlacementStrategy{Type: "spread", Field: "instanceId"}, Strategy{Type: "spread"}, ""},
		{PlacementStrategy{Type: "spread", Field: "attribute:zone"}, Strategy{Type: "spread", Attribute: "zone"}, ""},
		{PlacementStrategy{Type: "spread", Field: "attribute:"}, Strategy{}, "want node or attribute:KEY"},
		{PlacementStrategy{Type: "random"}, Strategy{Type: "random"}, ""},
		{PlacementStrategy{Type: "random", Field: "x"}, Strategy{}, "random takes no field"},
		{PlacementStrategy{Type: "fill"}, Strategy{}, `type "fill"`},
	} {
		got, err := tc.in.Parse()
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: %+v %v, want %+v %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseConstraint(t *testing.T) {
	for _, tc := range []struct {
		in   PlacementConstraint
		want Constraint
		err  string
	}{
		{PlacementConstraint{Type: "distinctInstance"}, Constraint{Distinct: true}, ""},
		{PlacementConstraint{Type: "distinctInstance", Expression: "x"}, Constraint{}, "takes no expression"},
		{PlacementConstraint{Type: "memberOf", Expression: "attribute:zone == a"}, Constraint{Key: "zone", Value: "a", Equal: true, Expression: "attribute:zone == a"}, ""},
		{PlacementConstraint{Type: "memberOf", Expression: "attribute:arch!=arm64"}, Constraint{Key: "arch", Value: "arm64", Expression: "attribute:arch!=arm64"}, ""},
		{PlacementConstraint{Type: "memberOf", Expression: "zone == a"}, Constraint{}, "want attribute:KEY"},
		{PlacementConstraint{Type: "memberOf", Expression: "attribute:zone = a"}, Constraint{}, "want attribute:KEY"},
		{PlacementConstraint{Type: "memberOf", Expression: "attribute:zone == a b"}, Constraint{}, "want attribute:KEY"},
		{PlacementConstraint{Type: "near"}, Constraint{}, `type "near"`},
	} {
		got, err := tc.in.Parse()
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: %+v %v, want %+v %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestPlacementFailureString(t *testing.T) {
	f := &PlacementFailure{Count: 2, TaskDefinition: "web:3", CPU: 64, MemoryMiB: 512, Nodes: 4, Reasons: []PlacementReason{
		{Kind: ReasonMemory, Nodes: 2, Need: 512, MostFree: 256},
		{Kind: ReasonConstraint, Nodes: 1, Detail: "memberOf attribute:zone == a"},
		{Kind: ReasonNodeStatus, Nodes: 1, Detail: "down"},
	}}
	want := "unable to place 2 task(s): 0 of 4 nodes can run web:3 (cpu 64, memory 512 MiB): 2 nodes lack memory (need 512 MiB, most free 256 MiB); " +
		"1 node excluded by constraint memberOf attribute:zone == a; 1 node: node is down"
	if got := f.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	none := &PlacementFailure{Count: 1, Reasons: []PlacementReason{{Kind: ReasonNoNodes, Detail: "no nodes are registered"}}}
	if got := none.String(); got != "unable to place 1 task(s): no nodes are registered" {
		t.Errorf("no nodes: %s", got)
	}
	var nilFailure *PlacementFailure
	if nilFailure.String() != "" {
		t.Error("a nil failure says something")
	}
}

func TestTaskDefRef(t *testing.T) {
	if got := TaskDefRef("web", 3); got != "web:3" {
		t.Errorf("ref %q", got)
	}
	fam, rev, err := ParseTaskDefRef("my:app:12")
	if err != nil || fam != "my:app" || rev != 12 {
		t.Errorf("parse: %q %d %v", fam, rev, err)
	}
	for _, bad := range []string{"web", ":1", "web:0", "web:x"} {
		if _, _, err := ParseTaskDefRef(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// A container costs its node its soft limit, else its hard limit, as in
// ECS; one with neither costs the default reservation, never nothing.
func TestTaskMemory(t *testing.T) {
	td := TaskDefinition{ContainerDefinitions: []ContainerDefinition{
		{Name: "hard", Memory: 256},
		{Name: "soft", MemoryReservation: 64},
		{Name: "both", Memory: 512, MemoryReservation: 100},
		{Name: "neither"},
	}}
	want := []int64{256, 64, 100, DefaultMemoryReservationMiB}
	for i, w := range want {
		if got := td.ContainerDefinitions[i].ReservedMemoryMiB(); got != w {
			t.Errorf("%s: %d MiB, want %d", td.ContainerDefinitions[i].Name, got, w)
		}
	}
	if got := td.MemoryMiB(); got != 256+64+100+DefaultMemoryReservationMiB {
		t.Errorf("task: %d MiB", got)
	}
}

// A container logs through the driver its definition names; without one,
// or with one that works only in AWS, through json-file.
func TestLogDriver(t *testing.T) {
	for _, c := range []struct {
		lc   *LogConfiguration
		want string
		kept bool
	}{
		{nil, "json-file", true},
		{&LogConfiguration{LogDriver: "awslogs"}, "json-file", true},
		{&LogConfiguration{LogDriver: "local"}, "local", true},
		{&LogConfiguration{LogDriver: "journald"}, "journald", true},
		{&LogConfiguration{LogDriver: "gelf"}, "gelf", false},
		{&LogConfiguration{LogDriver: "none"}, "none", false},
	} {
		if got := c.lc.Driver(); got != c.want || LogsKept(got) != c.kept {
			t.Errorf("%+v: driver %s kept %v, want %s %v", c.lc, got, LogsKept(got), c.want, c.kept)
		}
	}
}
