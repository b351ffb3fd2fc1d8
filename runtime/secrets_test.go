package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

func TestSecretsJoinTheEnvironment(t *testing.T) {
	def := &structs.TaskDefinition{Family: "web", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{
		{Name: "app", Image: "img", Environment: []structs.KeyValue{{Name: "A", Value: "1"}}},
	}}
	spec := TaskSpec{Task: &structs.Task{ID: "t1"}, Def: def, Node: "n1",
		Secrets: map[string][]structs.KeyValue{"app": {{Name: "DB_PASSWORD", Value: "pw"}}, "other": {{Name: "X", Value: "y"}}}}
	cfg, _, _, err := containerConfig(spec, &def.ContainerDefinitions[0], nil, "bridge", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Env, []string{"A=1", "DB_PASSWORD=pw"}) {
		t.Fatalf("env %q", cfg.Env)
	}
}

func TestRegistryAuthDoesNotFormat(t *testing.T) {
	a := &RegistryAuth{Username: "u", Password: "hunter2", IdentityToken: "tok"}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%v %+v %#v %s", *a, *a, *a, a)} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "tok") {
			t.Fatalf("credentials formatted: %s", s)
		}
	}
}

// TestPullNeedsLogin: a private image without repositoryCredentials fails
// its start with that reason; the right login pulls it, a wrong one fails
// with the registry's refusal.
func TestPullNeedsLogin(t *testing.T) {
	f := NewFake()
	login := RegistryAuth{Username: "ci", Password: "s3cret"}
	f.PrivateImage("registry.example/app:1", login)
	def := &structs.TaskDefinition{Family: "web", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "registry.example/app:1"}}}
	start := func(auth *RegistryAuth) error {
		spec := TaskSpec{Task: &structs.Task{ID: "t1"}, Def: def, Node: "n1"}
		if auth != nil {
			spec.RegistryAuth = map[string]*RegistryAuth{"app": auth}
		}
		return f.Start(context.Background(), spec)
	}
	if err := start(nil); err == nil || !strings.Contains(err.Error(), "the registry refused it without a login, and the container has no repositoryCredentials") {
		t.Fatalf("a pull without a login: %v", err)
	}
	wrong := RegistryAuth{Username: "ci", Password: "nope"}
	if err := start(&wrong); err == nil || strings.Contains(err.Error(), "no repositoryCredentials") || strings.Contains(err.Error(), "nope") {
		t.Fatalf("a pull with the wrong login: %v", err)
	}
	if err := start(&login); err != nil {
		t.Fatalf("a pull with the login: %v", err)
	}
}

func TestNeedsLogin(t *testing.T) {
	for msg, want := range map[string]bool{
		"Error response from daemon: pull access denied for x, repository does not exist or may require 'docker login'": true,
		"Error response from daemon: Head \"https://r/v2/x/manifests/1\": unauthorized: authentication required":        true,
		"Error response from daemon: Get \"https://r/v2/\": dial tcp: lookup r: no such host":                           false,
		"Error response from daemon: manifest for x:1 not found: manifest unknown":                                      false,
	} {
		if got := needsLogin(msg); got != want {
			t.Errorf("%q: %v", msg, got)
		}
		err := pullError("x:1", nil, errors.New(msg))
		if strings.Contains(err.Error(), "refused it without a login") != want {
			t.Errorf("%q: %v", msg, err)
		}
	}
}
