package command

import (
	"slices"
	"testing"
)

func TestDrain(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"POST /v1/nodes/pi-2/drain": ok(`{"id":"b2c3d4e5-0000-4000-8000-000000000002","name":"pi-2","eligibility":"ineligible"}`)})
	r := skiffAt(f, "drain", "pi-2")
	wantOK(t, r)
	if r.stdout != "node pi-2: ineligible\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if got := f.last(t).body; got != `{"enable":true}` {
		t.Errorf("sent %q", got)
	}
}

func TestDrainUndo(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"POST /v1/nodes/pi-2/drain": ok(`{"id":"b2c3d4e5-0000-4000-8000-000000000002","name":"pi-2","eligibility":"eligible"}`)})
	r := skiffAt(f, "drain", "--undo", "pi-2")
	wantOK(t, r)
	if r.stdout != "node pi-2: eligible\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if got := f.last(t).body; got != `{"enable":false}` {
		t.Errorf("sent %q", got)
	}
}

func TestLeave(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"POST /v1/leave": ok("{}")})
	r := skiffAt(f, "leave")
	wantOK(t, r)
	if r.stdout != "the agent left the cluster and is stopping\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if got := f.got(); !slices.Equal(got, []string{"POST /v1/leave"}) {
		t.Errorf("requests %q", got)
	}
}
