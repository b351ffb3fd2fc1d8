package structs

import (
	"fmt"
	"regexp"
)

// Bounds of a secret: its name is what a container definition's valueFrom
// gives, and its value becomes one environment variable, which the kernel
// caps at 128 KiB.
const (
	MaxSecretBytes = 64 << 10
	MaxSecretName  = 128
)

var secretNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// CheckSecretName refuses a name that is empty, longer than MaxSecretName
// or holds anything but letters, digits, '_', '.' and '-'.
func CheckSecretName(name string) error {
	if name == "" || len(name) > MaxSecretName || !secretNameRE.MatchString(name) {
		return fmt.Errorf("%q: expected 1 to %d letters, digits, '_', '.' and '-'", name, MaxSecretName)
	}
	return nil
}

// Secret is a value of `skiff secret set` as the state keeps it: sealed
// (AES-256-GCM, under a key derived from the cluster secret, with the
// secret's name as associated data), so that neither the log, nor a
// snapshot, nor a replica holds it in the clear.
type Secret struct {
	Name string `json:"name"`
	// KeyID names the key that sealed the value; after a rotation of the
	// cluster secret the leader seals the value again under the new key.
	KeyID  string `json:"keyId"`
	Sealed []byte `json:"sealed"`
	// Size is the length of the value in bytes.
	Size int `json:"size"`
	// Version counts the sets of the secret from 1; sealing the same value
	// again under a new key keeps it.
	Version   int   `json:"version"`
	CreatedAt int64 `json:"createdAt"`
	UpdatedAt int64 `json:"updatedAt"`
}

// SecretRef is an ECS container secret: the environment variable Name gets
// the value of the secret ValueFrom names.
type SecretRef struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

// RepositoryCredentials is an ECS container's repositoryCredentials: the
// secret that holds the registry login its image is pulled with.
type RepositoryCredentials struct {
	CredentialsParameter string `json:"credentialsParameter"`
}

// SecretsUsed lists the names of the secrets the definition's containers
// read, in order and without repeats: their secrets' valueFrom and their
// repository credentials.
func (t *TaskDefinition) SecretsUsed() []string {
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	for i := range t.ContainerDefinitions {
		cd := &t.ContainerDefinitions[i]
		for _, s := range cd.Secrets {
			add(s.ValueFrom)
		}
		if rc := cd.RepositoryCredentials; rc != nil && rc.CredentialsParameter != "" {
			add(rc.CredentialsParameter)
		}
	}
	return out
}

// EnvironmentFile is an ECS container's environmentFiles entry, which ECS
// reads from S3 (type s3). skiff refuses it, naming the field, rather than
// start a container without the variables.
type EnvironmentFile struct {
	Value string `json:"value"`
	Type  string `json:"type"`
}
