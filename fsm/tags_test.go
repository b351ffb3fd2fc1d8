package fsm

import (
	"slices"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// TestEventTags: an event carries the tags of what it concerns when it
// is recorded: a task's (its definition's with its service's winning), a
// service's, or a node's for an event of the node alone.
func TestEventTags(t *testing.T) {
	f := New(nil)
	td := structs.TaskDefinition{Family: "web", Tags: []structs.Tag{{Key: "app", Value: "web"}, {Key: "team", Value: "platform"}},
		ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img"}}}
	mustApply(t, f, 1, CmdRegisterNode, RegisterNode{Node: structs.Node{ID: "n1", Name: "pi-1", Address: "10.0.0.1", Tags: []structs.Tag{{Key: "room", Value: "attic"}}}, At: 100})
	mustApply(t, f, 2, CmdApplyService, ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1, Tags: []structs.Tag{{Key: "team", Value: "front"}}}, TaskDefinition: &td, At: 200})
	task := structs.Task{ID: "0190aaaa-0000-7000-8000-00000000abcd", Service: "web", TaskDefinition: "web:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}
	mustApply(t, f, 3, CmdCommitPlan, CommitPlan{Place: []structs.Task{task}, At: 300})
	mustApply(t, f, 4, CmdSetNodeStatus, SetNodeStatus{ID: "n1", Eligibility: structs.EligibilityIneligible, At: 400})
	want := map[string][]structs.Tag{
		structs.EventNodeRegistered: {{Key: "room", Value: "attic"}},
		structs.EventServiceApplied: {{Key: "team", Value: "front"}},
		structs.EventTaskPlaced:     {{Key: "app", Value: "web"}, {Key: "team", Value: "front"}},
		structs.EventNodeDrained:    {{Key: "room", Value: "attic"}},
	}
	evs := f.State().EventsAfter(0)
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for _, e := range evs {
		if !slices.Equal(e.Tags, want[e.Kind]) {
			t.Errorf("%s: tags %v, want %v", e.Kind, e.Tags, want[e.Kind])
		}
	}
}
