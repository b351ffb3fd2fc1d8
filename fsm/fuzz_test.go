package fsm

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// FuzzApplyCommand feeds every command decoder arbitrary bodies: applying
// and checking an entry of any known type must never panic, whatever its
// bytes; a refused entry must change nothing but the index; no entry may
// bring a stopped or lost task back; and two replicas applying the same
// entry agree.
func FuzzApplyCommand(f *testing.F) {
	td := structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img"}}}
	served := structs.TaskDefinition{Family: "lb", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img",
		PortMappings: []structs.PortMapping{{ContainerPort: 80}}}}}
	seeds := map[CommandType]any{
		CmdRegisterNode:           RegisterNode{Node: structs.Node{ID: "n1", PortMin: 1, PortMax: 2}},
		CmdApplyService:           ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1}, TaskDefinition: &td},
		CmdDeleteService:          DeleteService{Name: "web"},
		CmdCommitPlan:             CommitPlan{Place: []structs.Task{{ID: "t1", Node: "n1"}}, Stop: []TaskStop{{ID: "t1"}}, Outcomes: []PlacementOutcome{{Service: "web"}}},
		CmdUpdateTaskStatus:       UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t1", Node: "n1", LastStatus: structs.StatusStopped}}},
		CmdDeleteTasks:            DeleteTasks{IDs: []string{"t1"}},
		CmdRegisterTaskDefinition: RegisterTaskDefinition{TaskDefinition: td},
		CmdSetNodeStatus:          SetNodeStatus{ID: "n1", Status: structs.NodeDown},
		CmdScaleService:           ScaleService{Name: "web", DesiredCount: 2},
		CmdUpsertACLToken:         UpsertACLToken{Token: structs.ACLToken{AccessorID: "a", Policy: structs.PolicyReadOnly, SecretHash: strings.Repeat("0", 64)}},
		CmdDeleteACLToken:         DeleteACLToken{AccessorID: "a"},
		CmdRotateSecret: RotateSecret{Rotation: structs.SecretRotation{Generation: 1, PrevDigest: strings.Repeat("1", 64), Digest: strings.Repeat("2", 64), Sealed: []byte{1}},
			Bootstrap: structs.ACLToken{AccessorID: "bootstrap", Policy: structs.PolicyManagement, SecretHash: strings.Repeat("3", 64)}},
		CmdSetSecret:          SetSecret{Secret: structs.Secret{Name: "db", KeyID: "k", Sealed: make([]byte, 1+sealOverhead), Size: 1}},
		CmdDeleteSecret:       DeleteSecret{Name: "db"},
		CmdResealSecrets:      ResealSecrets{Secrets: []Reseal{{Name: "db", Version: 1, KeyID: "k2", Sealed: make([]byte, 1+sealOverhead)}}},
		CmdApplyDaemonService: ApplyService{Service: structs.Service{Name: "agent", SchedulingStrategy: structs.SchedulingDaemon}, TaskDefinition: &td},
		CmdApplySchedule:      ApplySchedule{Schedule: structs.Schedule{Name: "b", Expression: "rate(1 minute)", Concurrency: "allow"}, TaskDefinition: &td},
		CmdDeleteSchedule:     DeleteSchedule{Name: "b"},
		CmdRecordScheduleRun:  RecordScheduleRun{Name: "b", Run: structs.ScheduleRun{At: 1}},
		CmdUpdateDeployment: UpdateDeployment{Deployment: structs.Deployment{ID: "d1", Service: "web", From: "web:0", To: "web:1", State: structs.DeploymentRolledBack},
			Rollback: &structs.Deployment{ID: "d2", Service: "web", From: "web:1", To: "web:0", Rollback: true, State: structs.DeploymentInProgress}},
		CmdSetServiceRevision: SetServiceRevision{Name: "web", TaskDefinition: "web:1"},
		CmdMoveTask: MoveTask{Task: structs.Task{ID: "t4", Node: "n2", Service: "web", TaskDefinition: "web:1", Replaces: "t2",
			DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}},
		CmdRecordEvent: RecordEvent{Event: structs.Event{Kind: structs.EventLeaderElected, Message: "n1 leads"}},
		CmdPlaceTasks: PlaceTasks{New: []structs.Task{{ID: "t4", TaskDefinition: "web:1", Node: "n1"}, {ID: "t5", Service: "web", TaskDefinition: "web:1"}},
			Assign: []TaskPlacement{{ID: "t1", Node: "n1"}}},
		CmdApplyBalancedService: ApplyService{Service: structs.Service{Name: "lb", DesiredCount: 1,
			LoadBalancers: []structs.LoadBalancer{{ContainerName: "app", ContainerPort: 80, ListenerPort: 80}}}, TaskDefinition: &served},
		CmdApplySourcedService: ApplyService{Service: structs.Service{Name: "web", DesiredCount: 1, Source: "deploy"}, TaskDefinition: &td},
	}
	for ct := range handlers {
		if _, ok := seeds[ct]; !ok {
			f.Fatalf("no seed for %s: add one", ct)
		}
	}
	for ct, body := range seeds {
		b, err := Encode(ct, body)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{byte(CmdCommitPlan), '[', '['})
	// Reports that would revive the stopped task t1, or bring the running
	// t2 to LOST, among legal ones.
	revive, _ := Encode(CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{
		{ID: "t1", Node: "n1", LastStatus: structs.StatusRunning}, {ID: "t2", Node: "n1", LastStatus: structs.StatusLost},
		{ID: "t3", Node: "n1", LastStatus: structs.StatusRunning}, {ID: "t3", Node: "n1", LastStatus: structs.StatusStopped}}})
	f.Add(revive)
	// The state every input meets: t1 stopped, t2 running, t3 pending.
	base := [][]byte{}
	for _, e := range []struct {
		ct   CommandType
		body any
	}{
		{CmdRegisterNode, seeds[CmdRegisterNode]},
		{CmdApplyService, seeds[CmdApplyService]},
		{CmdCommitPlan, seeds[CmdCommitPlan]},
		{CmdUpdateTaskStatus, seeds[CmdUpdateTaskStatus]},
		{CmdCommitPlan, CommitPlan{Place: []structs.Task{
			{ID: "t2", Node: "n1", Service: "web", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending},
			{ID: "t3", Node: "n1", Service: "web", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}}}},
		{CmdUpdateTaskStatus, UpdateTaskStatus{Updates: []TaskStatusUpdate{{ID: "t2", Node: "n1", LastStatus: structs.StatusRunning}}}},
	} {
		b, err := Encode(e.ct, e.body)
		if err != nil {
			f.Fatal(err)
		}
		base = append(base, b)
	}
	replica := func() *FSM {
		st := New(nil)
		for i, b := range base {
			st.ApplyCommand(uint64(i+1), b)
		}
		return st
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 0 {
			if _, known := handlers[CommandType(data[0])&^IgnoreUnknownFlag]; !known && CommandType(data[0])&IgnoreUnknownFlag == 0 {
				// An unknown type stops the replica by design.
				return
			}
		}
		_ = Check(data)
		st, other := replica(), replica()
		_ = st.State().Check(data)
		before := snapshotJSON(t, st)
		final := map[string]string{}
		for _, task := range st.State().Tasks() {
			if task.Terminal() {
				final[task.ID] = task.LastStatus
			}
		}
		if _, refused := st.ApplyCommand(10, data).(error); refused && snapshotJSON(t, st) != before {
			t.Fatalf("a refused entry changed the state: %q", data)
		}
		for id, status := range final {
			if task := st.State().Task(id); task != nil && task.LastStatus != status {
				t.Fatalf("task %s came back from %s to %s: %q", id, status, task.LastStatus, data)
			}
		}
		checkIndexes(t, st.live)
		other.ApplyCommand(10, data)
		if a, b := snapshotJSON(t, st), snapshotJSON(t, other); a != b {
			t.Fatalf("two replicas disagree after %q:\n%s\n%s", data, a, b)
		}
	})
}

// snapshotJSON is the state's content as JSON, its index left out.
func snapshotJSON(t *testing.T, f *FSM) string {
	t.Helper()
	return stateJSON(t, f.State())
}

// stateJSON is a view's content as JSON, its index left out.
func stateJSON(t *testing.T, st *State) string {
	t.Helper()
	b, err := json.Marshal([]any{st.Nodes(), st.TaskDefinitions(), st.Services(), st.Tasks(), st.ACLTokens(), st.Rotations()})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
