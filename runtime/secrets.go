package runtime

import (
	"fmt"
	"strings"

	"github.com/skiff-run/skiff/structs"
)

// RegistryAuth is the login a container's image is pulled with, opened
// from the secret its repositoryCredentials name: a user name and
// password, or an identity token. It formats as "[redacted]", so that a
// log line that prints it by mistake gives nothing away.
type RegistryAuth struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// String hides the credentials.
func (RegistryAuth) String() string { return "[redacted]" }

// GoString hides the credentials from %#v too.
func (RegistryAuth) GoString() string { return "[redacted]" }

// environment is the container's environment as the engine takes it: its
// definition's variables, then those its secrets opened to.
func (s TaskSpec) environment(cd *structs.ContainerDefinition) []string {
	var env []string
	for _, e := range cd.Environment {
		env = append(env, e.Name+"="+e.Value)
	}
	for _, e := range s.Secrets[cd.Name] {
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

// pullError is a failed pull as the task's stop reason gives it. A pull
// the registry refused for want of a login, from a container that has
// none, says so.
func pullError(ref string, auth *RegistryAuth, err error) error {
	msg := err.Error()
	if auth == nil && needsLogin(msg) {
		return fmt.Errorf("image %s not found locally and pull failed: the registry refused it without a login, and the container has no repositoryCredentials: %s", ref, msg)
	}
	return fmt.Errorf("image %s not found locally and pull failed: %s", ref, msg)
}

// needsLogin tells a registry's refusal for want of credentials from other
// pull failures, by the words registries and the engine use for it.
func needsLogin(msg string) bool {
	msg = strings.ToLower(msg)
	for _, w := range []string{"unauthorized", "authentication required", "denied", "no basic auth credentials", "docker login"} {
		if strings.Contains(msg, w) {
			return true
		}
	}
	return false
}
