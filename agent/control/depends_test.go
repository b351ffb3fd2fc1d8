package control

import (
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/fsm/fsmtest"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// reportContainers has the node of each of a service's active tasks report
// it with one container "app" in the given state.
func reportContainers(t *testing.T, c *fsmtest.Committer, svc, status, health string, exit *int) {
	t.Helper()
	var ups []fsm.TaskStatusUpdate
	for _, task := range c.FSM.State().TasksByService(svc) {
		if task.Active() {
			ups = append(ups, fsm.TaskStatusUpdate{ID: task.ID, Node: task.Node, LastStatus: status, At: time.Now().UnixMilli(),
				Containers: []structs.ContainerState{{Name: "app", Status: status, Health: health, ExitCode: exit}}})
		}
	}
	mustCommit(t, c, fsm.CmdUpdateTaskStatus, fsm.UpdateTaskStatus{Updates: ups})
}

func dependent(name string, deps ...structs.ServiceDependency) fsm.ApplyService {
	s := service(name, 1, 10)
	s.Service.DependsOn = deps
	return s
}

// message is the service's placement verdict as skiff services shows it.
func message(c *fsmtest.Committer, svc string) string {
	return c.FSM.State().Service(svc).PlacementFailure.String()
}

// stays fails the test if any of the services gets a task within a while.
func stays(t *testing.T, c *fsmtest.Committer, svcs ...string) {
	t.Helper()
	testutil.AssertFor(t, 300*time.Millisecond, func() (bool, string) {
		for _, s := range svcs {
			if n := active(c.FSM.State(), s); n > 0 {
				return false, s + " was placed before its dependencies were ready"
			}
		}
		return true, ""
	})
}

// Services that depend on others are placed in order: api once db's task
// is healthy, web once api's runs. The waiting services are not settled:
// what wakes them is a change to another service's tasks, never to their
// own.
func TestDependsOnOrdersServices(t *testing.T) {
	r, c := settledPlane(t, time.Hour)
	mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, PortMin: 1, PortMax: 2}})
	db := service("db", 1, 10)
	db.TaskDefinition.ContainerDefinitions[0].HealthCheck = &structs.HealthCheck{Command: []string{"CMD", "probe"}}
	mustCommit(t, c, fsm.CmdApplyService, dependent("web", structs.ServiceDependency{Service: "api", Condition: structs.ConditionStarted}))
	mustCommit(t, c, fsm.CmdApplyService, dependent("api", structs.ServiceDependency{Service: "db", Condition: structs.ConditionHealthy}))
	r.setLeading(true)
	waitFor(t, "web waiting for api, which does not exist", func() bool {
		return message(c, "web") == "unable to place 1 task(s): waiting for service api to be running (0 of 1 tasks)"
	})
	waitFor(t, "api waiting for db, which does not exist", func() bool {
		return message(c, "api") == "unable to place 1 task(s): waiting for service db, which does not exist"
	})
	mustCommit(t, c, fsm.CmdApplyService, db)
	waitFor(t, "db placed", func() bool { return active(c.FSM.State(), "db") == 1 })
	reportContainers(t, c, "db", structs.StatusRunning, "starting", nil)
	waitFor(t, "api waiting for db to be healthy", func() bool {
		return message(c, "api") == "unable to place 1 task(s): waiting for service db to be healthy (0 of 1 tasks)"
	})
	stays(t, c, "api", "web")
	reportContainers(t, c, "db", structs.StatusRunning, "healthy", nil)
	waitFor(t, "api placed once db is healthy", func() bool { return active(c.FSM.State(), "api") == 1 })
	if m := message(c, "api"); m != "" {
		t.Errorf("api placed, but its message is still %q", m)
	}
	stays(t, c, "web")
	report(t, c, "api", structs.StatusRunning)
	waitFor(t, "web placed once api runs", func() bool { return active(c.FSM.State(), "web") == 1 })
}

// A service that waits for another to complete is placed once the other's
// tasks have stopped with exit code 0, not when one fails.
func TestDependsOnCompletedSuccessfully(t *testing.T) {
	r, c := settledPlane(t, time.Hour)
	mustCommit(t, c, fsm.CmdRegisterNode, fsm.RegisterNode{Node: structs.Node{ID: "n1", CPU: 4096, MemoryMiB: 4096, PortMin: 1, PortMax: 2}})
	mustCommit(t, c, fsm.CmdApplyService, service("migrate", 1, 10))
	mustCommit(t, c, fsm.CmdApplyService, dependent("api", structs.ServiceDependency{Service: "migrate", Condition: structs.ConditionCompletedSuccessfully}))
	r.setLeading(true)
	waitFor(t, "migrate placed", func() bool { return active(c.FSM.State(), "migrate") == 1 })
	one, zero := 1, 0
	reportContainers(t, c, "migrate", structs.StatusStopped, "", &one)
	waitFor(t, "migrate replaced", func() bool { return active(c.FSM.State(), "migrate") == 1 })
	stays(t, c, "api")
	if m := message(c, "api"); !strings.Contains(m, "waiting for service migrate to be completed successfully") {
		t.Fatalf("api's message %q", m)
	}
	reportContainers(t, c, "migrate", structs.StatusStopped, "", &zero)
	waitFor(t, "api placed once migrate completed", func() bool { return active(c.FSM.State(), "api") == 1 })
}
