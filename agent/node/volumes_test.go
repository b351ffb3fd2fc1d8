package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestRunnerRefusesHostPath: a task that bind mounts a host path this node
// does not allow (here none is) is stopped with a reason that names the
// agent flag, and nothing starts, whatever the leader placed.
func TestRunnerRefusesHostPath(t *testing.T) {
	s := start(t)
	s.caughtUp.Store(true)
	td := structs.TaskDefinition{Family: "etc", Volumes: []structs.Volume{{Name: "etc", Host: &structs.HostVolume{SourcePath: "/etc"}}},
		ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img", MountPoints: []structs.MountPoint{{SourceVolume: "etc", ContainerPath: "/etc"}}}}}
	ctx := context.Background()
	if _, err := s.c.Commit(ctx, fsm.CmdRegisterTaskDefinition, fsm.RegisterTaskDefinition{TaskDefinition: td}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.Commit(ctx, fsm.CmdCommitPlan, fsm.CommitPlan{Place: []structs.Task{{ID: "t1", Service: "etc",
		TaskDefinition: "etc:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}}}); err != nil {
		t.Fatal(err)
	}
	want := "host path /etc is not allowed on node one: start its agent with --allow-host-path /etc"
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		got := s.c.FSM.State().Task("t1")
		return got.LastStatus == structs.StatusStopped && strings.Contains(got.StopReason, want), "task " + got.LastStatus + ": " + got.StopReason
	})
	if n := s.rt.Starts(); n != 0 {
		t.Fatalf("%d starts, want none", n)
	}
}

// TestRunnerRefusesPrivileged: a task that asks for a privileged container
// on a node whose agent does not allow them is stopped with a reason that
// names what it asks for and the agent flag, and nothing starts.
func TestRunnerRefusesPrivileged(t *testing.T) {
	s := start(t)
	s.caughtUp.Store(true)
	td := structs.TaskDefinition{Family: "p", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "img",
		ContainerOptions: structs.ContainerOptions{Privileged: true}}}}
	ctx := context.Background()
	if _, err := s.c.Commit(ctx, fsm.CmdRegisterTaskDefinition, fsm.RegisterTaskDefinition{TaskDefinition: td}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.Commit(ctx, fsm.CmdCommitPlan, fsm.CommitPlan{Place: []structs.Task{{ID: "t1", Service: "p",
		TaskDefinition: "p:1", Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}}}); err != nil {
		t.Fatal(err)
	}
	want := "the task asks for privileged in container app, which node one does not allow: start its agent with --allow-privileged"
	testutil.Eventually(t, 5*time.Second, func() (bool, string) {
		got := s.c.FSM.State().Task("t1")
		return got.LastStatus == structs.StatusStopped && strings.Contains(got.StopReason, want), "task " + got.LastStatus + ": " + got.StopReason
	})
	if n := s.rt.Starts(); n != 0 {
		t.Fatalf("%d starts, want none", n)
	}
}

// A node that comes back allowing privileged containers, or no longer
// allowing them, registers again, so that the scheduler knows.
func TestRegistrationCarriesAllowPrivileged(t *testing.T) {
	a := structs.Node{ID: "n1", Name: "one", AllowedHostPaths: []string{"/srv"}}
	b := a
	b.AllowPrivileged = true
	if !sameRegistration(&a, &a) || sameRegistration(&a, &b) {
		t.Fatal("AllowPrivileged is not part of the registration")
	}
}
