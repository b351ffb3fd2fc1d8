package node

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/skiff-run/skiff/fsm"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// Opener opens the value of a secret the state holds sealed. Its errors
// name the secret and never hold any of its value.
type Opener interface {
	Open(st *fsm.State, name string) ([]byte, error)
}

// errNoOpener is what a task that reads secrets fails with on a runner
// that has no way to open them.
var errNoOpener = errors.New("this agent cannot open secrets")

// openSecrets opens what the task's containers read: their secrets, as
// environment variables by container name, and the registry logins of
// their repositoryCredentials. The values stay in memory for the start.
func (r *Runner) openSecrets(st *fsm.State, td *structs.TaskDefinition) (map[string][]structs.KeyValue, map[string]*runtime.RegistryAuth, error) {
	var env map[string][]structs.KeyValue
	var auth map[string]*runtime.RegistryAuth
	open := func(name string) ([]byte, error) {
		if r.cfg.Secrets == nil {
			return nil, errNoOpener
		}
		return r.cfg.Secrets.Open(st, name)
	}
	for i := range td.ContainerDefinitions {
		cd := &td.ContainerDefinitions[i]
		for _, s := range cd.Secrets {
			v, err := open(s.ValueFrom)
			if err != nil {
				return nil, nil, fmt.Errorf("container %s: secret %s for %s: %w", cd.Name, s.ValueFrom, s.Name, err)
			}
			if env == nil {
				env = map[string][]structs.KeyValue{}
			}
			env[cd.Name] = append(env[cd.Name], structs.KeyValue{Name: s.Name, Value: string(v)})
		}
		rc := cd.RepositoryCredentials
		if rc == nil || rc.CredentialsParameter == "" {
			continue
		}
		v, err := open(rc.CredentialsParameter)
		if err != nil {
			return nil, nil, fmt.Errorf("container %s: repositoryCredentials secret %s: %w", cd.Name, rc.CredentialsParameter, err)
		}
		var a runtime.RegistryAuth
		// The decoder's own error could quote the value, so it is not
		// passed on.
		if json.Unmarshal(v, &a) != nil || a.IdentityToken == "" && (a.Username == "" || a.Password == "") {
			return nil, nil, fmt.Errorf(`container %s: repositoryCredentials secret %s: expected JSON {"username": ..., "password": ...} or {"identitytoken": ...}`, cd.Name, rc.CredentialsParameter)
		}
		if auth == nil {
			auth = map[string]*runtime.RegistryAuth{}
		}
		auth[cd.Name] = &a
	}
	return env, auth, nil
}
