package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// mapOpener opens secrets from a map, as if the state held them sealed.
type mapOpener map[string]string

func (m mapOpener) Open(_ *fsm.State, name string) ([]byte, error) {
	v, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("secret %s does not exist", name)
	}
	return []byte(v), nil
}

func (s *setup) placeDef(t *testing.T, id string, td structs.TaskDefinition) {
	t.Helper()
	ref, err := s.c.Commit(context.Background(), fsm.CmdRegisterTaskDefinition, fsm.RegisterTaskDefinition{TaskDefinition: td})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.Commit(context.Background(), fsm.CmdCommitPlan, fsm.CommitPlan{Place: []structs.Task{{ID: id, Service: "web",
		TaskDefinition: ref.(string), Node: "n1", DesiredStatus: structs.StatusRunning, LastStatus: structs.StatusPending}}}); err != nil {
		t.Fatal(err)
	}
}

// TestRunnerPassesSecrets: a task's secrets reach its container's
// environment and none of the runner's log lines; its repositoryCredentials
// pull a private image; a secret that does not open stops the task with a
// reason that names it.
func TestRunnerPassesSecrets(t *testing.T) {
	const password, registryPassword = "pa55-w0rd-value", "registry-pa55"
	var log testutil.Buffer
	fake := runtime.NewFake()
	s := startWith(t, fake, fake, mapOpener{"db": password, "reg": `{"username":"ci","password":"` + registryPassword + `"}`, "bad-reg": "not json " + registryPassword}, &log)
	s.caughtUp.Store(true)
	s.rt.PrivateImage("private/app:1", runtime.RegistryAuth{Username: "ci", Password: registryPassword})
	td := structs.TaskDefinition{Family: "web", ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "private/app:1",
		Environment:           []structs.KeyValue{{Name: "MODE", Value: "prod"}},
		Secrets:               []structs.SecretRef{{Name: "DB_PASSWORD", ValueFrom: "db"}},
		RepositoryCredentials: &structs.RepositoryCredentials{CredentialsParameter: "reg"}}}}
	s.placeDef(t, "t1", td)
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		return s.rt.Running()["t1"] == 1, "the task with secrets to start"
	})
	if env := s.rt.Env("t1", "app"); !slices.Equal(env, []string{"MODE=prod", "DB_PASSWORD=" + password}) {
		t.Fatalf("env %q", env)
	}

	missing := td
	missing.Family = "missing"
	missing.ContainerDefinitions = []structs.ContainerDefinition{{Name: "app", Image: "img", Secrets: []structs.SecretRef{{Name: "X", ValueFrom: "nope"}}}}
	s.placeDef(t, "t2", missing)
	noLogin := td
	noLogin.Family = "nologin"
	noLogin.ContainerDefinitions = []structs.ContainerDefinition{{Name: "app", Image: "private/app:1"}}
	s.placeDef(t, "t3", noLogin)
	badLogin := td
	badLogin.Family = "badlogin"
	badLogin.ContainerDefinitions = []structs.ContainerDefinition{{Name: "app", Image: "private/app:1",
		RepositoryCredentials: &structs.RepositoryCredentials{CredentialsParameter: "bad-reg"}}}
	s.placeDef(t, "t4", badLogin)
	for id, want := range map[string]string{
		"t2": "container app: secret nope for X: secret nope does not exist",
		"t3": "the registry refused it without a login, and the container has no repositoryCredentials",
		"t4": "repositoryCredentials secret bad-reg: expected JSON",
	} {
		testutil.Eventually(t, 10*time.Second, func() (bool, string) {
			tk := s.c.FSM.State().Task(id)
			return tk.LastStatus == structs.StatusStopped && strings.Contains(tk.StopReason, want), fmt.Sprintf("%s stopped with %q: %+v", id, want, tk)
		})
	}
	for _, tk := range s.c.FSM.State().Tasks() {
		if strings.Contains(tk.StopReason, registryPassword) {
			t.Fatalf("a stop reason holds a secret: %q", tk.StopReason)
		}
	}
	if l := log.String(); strings.Contains(l, password) || strings.Contains(l, registryPassword) || !strings.Contains(l, "starting task") {
		t.Fatalf("the runner's log:\n%s", l)
	}
}
