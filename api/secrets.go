package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/skiff-run/skiff/structs"
)

// SecretInfo is a secret as the API shows it: never its value, sealed or
// not, nor a digest of it (a digest of a short password would let anyone
// who reads it guess the password offline).
type SecretInfo struct {
	Name      string `json:"name"`
	Size      int    `json:"size"`
	Version   int    `json:"version"`
	CreatedAt int64  `json:"createdAt"`
	UpdatedAt int64  `json:"updatedAt"`
	// UsedBy lists the services whose task definition reads the secret.
	UsedBy []string `json:"usedBy,omitempty"`
}

// SecretRequest is the body of PUT /v1/secrets/{name}: the value, in
// base64 as JSON carries bytes.
type SecretRequest struct {
	Value []byte `json:"value"`
}

var secretShape = &shape{acted: map[string]*shape{"value": nil}}

func secretInfo(st State, s *structs.Secret) SecretInfo {
	return SecretInfo{Name: s.Name, Size: s.Size, Version: s.Version, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		UsedBy: st.ServicesUsingSecret(s.Name)}
}

func (s *server) secrets(w http.ResponseWriter, r *http.Request) (any, error) {
	st := s.b.View()
	out := []SecretInfo{}
	for _, sec := range st.Secrets() {
		out = append(out, secretInfo(st, sec))
	}
	return out, nil
}

func (s *server) setSecret(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := structs.CheckSecretName(name); err != nil {
		return nil, fieldErr("name", "%v", err)
	}
	var req SecretRequest
	if _, err := decodeBody(w, r, secretShape, &req); err != nil {
		return nil, err
	}
	if req.Value == nil {
		return nil, fieldErr("value", "required: the secret's value, base64-encoded")
	}
	if len(req.Value) > structs.MaxSecretBytes {
		return nil, fieldErr("value", "%d bytes: at most %d", len(req.Value), structs.MaxSecretBytes)
	}
	sec, err := s.b.SetSecret(r.Context(), name, req.Value)
	if err != nil {
		return nil, err
	}
	return secretInfo(s.b.View(), sec), nil
}

func (s *server) deleteSecret(w http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := s.b.DeleteSecret(r.Context(), r.PathValue("name")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// checkSecretsExist refuses a definition that reads a secret the state
// does not hold, naming the field, so that a typo is found when the file
// is applied rather than when every task fails to start. The secret may
// still go before a task starts; the task then stops saying so.
func checkSecretsExist(st State, td *structs.TaskDefinition, path string) error {
	for i := range td.ContainerDefinitions {
		cd := &td.ContainerDefinitions[i]
		p := fmt.Sprintf("%s[%d]", join(path, "containerDefinitions"), i)
		for j, ref := range cd.Secrets {
			if st.Secret(ref.ValueFrom) == nil {
				return fieldErr(fmt.Sprintf("%s.secrets[%d].valueFrom", p, j), "secret %q does not exist: `skiff secret set %s` makes it", ref.ValueFrom, ref.ValueFrom)
			}
		}
		if rc := cd.RepositoryCredentials; rc != nil && st.Secret(rc.CredentialsParameter) == nil {
			return fieldErr(p+".repositoryCredentials.credentialsParameter", "secret %q does not exist: `skiff secret set %s` makes it", rc.CredentialsParameter, rc.CredentialsParameter)
		}
	}
	return nil
}

// Secrets lists the secrets, without their values.
func (c *Client) Secrets(ctx context.Context) ([]SecretInfo, error) {
	var out []SecretInfo
	return out, c.do(ctx, http.MethodGet, "/v1/secrets", nil, &out)
}

// SetSecret creates a secret or gives it a new value.
func (c *Client) SetSecret(ctx context.Context, name string, value []byte) (SecretInfo, error) {
	body, err := json.Marshal(SecretRequest{Value: value})
	if err != nil {
		return SecretInfo{}, err
	}
	var out SecretInfo
	return out, c.do(ctx, http.MethodPut, "/v1/secrets/"+url.PathEscape(name), body, &out)
}

// DeleteSecret removes a secret that no service reads.
func (c *Client) DeleteSecret(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/secrets/"+url.PathEscape(name), nil, nil)
}

// checkSecretRefs checks a container's secrets, repositoryCredentials and
// environmentFiles; p is the container's field path.
func checkSecretRefs(p string, cd *structs.ContainerDefinition) error {
	names := map[string]bool{}
	for _, e := range cd.Environment {
		names[e.Name] = true
	}
	for j, ref := range cd.Secrets {
		sp := fmt.Sprintf("%s.secrets[%d]", p, j)
		if ref.Name == "" || strings.ContainsAny(ref.Name, "=\x00") {
			return fieldErr(sp+".name", "required: a variable name without '='")
		}
		if names[ref.Name] {
			return fieldErr(sp+".name", "%q is set twice in this container's environment and secrets", ref.Name)
		}
		names[ref.Name] = true
		if err := structs.CheckSecretName(ref.ValueFrom); err != nil {
			return fieldErr(sp+".valueFrom", "%v: the name of a secret of `skiff secret set`", err)
		}
	}
	if rc := cd.RepositoryCredentials; rc != nil {
		if err := structs.CheckSecretName(rc.CredentialsParameter); err != nil {
			return fieldErr(p+".repositoryCredentials.credentialsParameter", "%v: the name of a secret holding {\"username\", \"password\"} or {\"identitytoken\"}", err)
		}
	}
	for j, ef := range cd.EnvironmentFiles {
		fp := fmt.Sprintf("%s.environmentFiles[%d]", p, j)
		if ef.Type == "s3" {
			return fieldErr(fp+".type", "s3: skiff cannot read files from S3; give the variables as environment, and passwords as secrets")
		}
		return fieldErr(fp, "an agent reads no files of the machine skiff is run on: `skiff apply`, `run -f` and `taskdefs register` put a local file's variables into environment; give them as environment")
	}
	return nil
}
