package control

import (
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/structs"
)

// A service whose containers ask for GPUs gets tasks that hold distinct
// GPUs of their node, and the tasks that find none free wait, explained.
func TestGPUServiceHoldsDistinctGPUs(t *testing.T) {
	r, c := settledPlane(t, time.Hour)
	mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, GPUs: 2, PortMin: 1, PortMax: 2}})
	svc := service("ml", 3, 16)
	svc.TaskDefinition.ContainerDefinitions[0].ResourceRequirements = []structs.ResourceRequirement{{Type: structs.ResourceGPU, Value: "1"}}
	mustCommit(t, c, fsm.CmdApplyService, svc)
	r.setLeading(true)
	waitFor(t, "two tasks and a GPU shortage", func() bool {
		st := c.FSM.State()
		return active(st, "ml") == 2 && st.Service("ml").PlacementFailure != nil
	})
	held := map[int]bool{}
	for _, task := range c.FSM.State().TasksByService("ml") {
		if len(task.GPUs) != 1 || held[task.GPUs[0]] {
			t.Fatalf("task %s holds GPUs %v; held so far %v", task.ID, task.GPUs, held)
		}
		held[task.GPUs[0]] = true
	}
	if got := c.FSM.State().Service("ml").PlacementFailure.String(); !strings.HasSuffix(got, "0 of 1 node can run ml:1 (cpu 0, memory 16 MiB): 1 node lack GPUs (need 1, most free 0)") {
		t.Fatalf("failure %q", got)
	}
}
