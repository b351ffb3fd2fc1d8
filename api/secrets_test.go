package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// TestSecretsAPI: a set answers what a listing shows, and no answer of any
// route holds the value or its sealed form; bad names and values are
// refused before the backend; a delete the backend refuses is a 409.
func TestSecretsAPI(t *testing.T) {
	f := newFake()
	logs := &logBuffer{}
	srv := serve(t, f, logs)
	const value = "s3cr3t-value-XYZ"
	sealed := []byte(value)
	slices.Reverse(sealed)
	body := fmt.Sprintf(`{"value": %q}`, base64.StdEncoding.EncodeToString([]byte(value)))
	a := send(t, srv.URL, "PUT", "/v1/secrets/db.password", body, nil)
	if a.status != 200 {
		t.Fatalf("set: %d %s", a.status, a.body)
	}
	checkJSON(t, a.body, map[string]any{"name": "db.password", "size": len(value), "version": 1, "sealed": absent, "value": absent, "keyId": absent})
	td := &structs.TaskDefinition{Family: "web", Revision: 1, ContainerDefinitions: []structs.ContainerDefinition{{Name: "app", Image: "x",
		Secrets: []structs.SecretRef{{Name: "DB_PASSWORD", ValueFrom: "db.password"}}}}}
	f.mu.Lock()
	f.update(func(s *fakeState) { s.taskdefs = []*structs.TaskDefinition{td} })
	f.mu.Unlock()
	a = send(t, srv.URL, "GET", "/v1/secrets", "", nil)
	checkJSON(t, a.body, map[string]any{"#": 1, "0.name": "db.password", "0.size": len(value), "0.usedBy": "[web]"})

	for _, path := range []string{"/v1/secrets", "/v1/taskdefs", "/v1/services", "/v1/services/web", "/v1/tasks?all", "/v1/nodes"} {
		a := send(t, srv.URL, "GET", path, "", nil)
		for _, form := range []string{value, string(sealed), base64.StdEncoding.EncodeToString(sealed), base64.StdEncoding.EncodeToString([]byte(value))} {
			if strings.Contains(string(a.body), form) {
				t.Fatalf("GET %s gives the secret away:\n%s", path, a.body)
			}
		}
	}
	if strings.Contains(logs.String(), value) {
		t.Fatalf("the API logged the value:\n%s", logs.String())
	}

	for name, tc := range map[string]struct{ path, body, field string }{
		"a bad name":      {"/v1/secrets/no%2Fslash", body, "name"},
		"a long name":     {"/v1/secrets/" + strings.Repeat("a", 129), body, "name"},
		"no value":        {"/v1/secrets/x", `{}`, "value"},
		"an unknown key":  {"/v1/secrets/x", `{"value": "", "valu": ""}`, "valu"},
		"a value too big": {"/v1/secrets/x", fmt.Sprintf(`{"value": %q}`, base64.StdEncoding.EncodeToString(make([]byte, structs.MaxSecretBytes+1))), "value"},
	} {
		a := send(t, srv.URL, "PUT", tc.path, tc.body, nil)
		if a.status != 400 {
			t.Errorf("%s: %d %s", name, a.status, a.body)
			continue
		}
		checkJSON(t, a.body, map[string]any{"field": tc.field})
	}
	if n := len(f.state.secrets); n != 1 {
		t.Fatalf("refused sets reached the backend: %d secrets", n)
	}

	f.errs["DeleteSecret"] = fmt.Errorf("%w: secret db.password is read by service(s) web", ErrConflict)
	a = send(t, srv.URL, "DELETE", "/v1/secrets/db.password", "", nil)
	if a.status != 409 || !strings.Contains(string(a.body), "web") {
		t.Fatalf("a delete of a secret in use: %d %s", a.status, a.body)
	}
	delete(f.errs, "DeleteSecret")
	if a = send(t, srv.URL, "DELETE", "/v1/secrets/db.password", "", nil); a.status != 204 {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
}

// TestApplyRefusesMissingSecrets: a service file or a run whose containers
// read a secret the state lacks is refused, naming the field.
func TestApplyRefusesMissingSecrets(t *testing.T) {
	f := newFake()
	srv := serve(t, f, &logBuffer{})
	file := `{"service": "web", "desiredCount": 1, "taskDefinition": {"family": "web", "containerDefinitions": [
		{"name": "app", "image": "x", "secrets": [{"name": "DB_PASSWORD", "valueFrom": "db"}]}]}}`
	a := send(t, srv.URL, "PUT", "/v1/services/web", file, nil)
	checkJSON(t, a.body, map[string]any{"field": "taskDefinition.containerDefinitions[0].secrets[0].valueFrom", "error": "~skiff secret set db"})
	creds := `{"taskDefinition": {"family": "one", "containerDefinitions": [{"name": "app", "image": "x", "repositoryCredentials": {"credentialsParameter": "reg"}}]}}`
	a = send(t, srv.URL, "POST", "/v1/tasks", creds, nil)
	checkJSON(t, a.body, map[string]any{"field": "taskDefinition.containerDefinitions[0].repositoryCredentials.credentialsParameter"})
	if _, err := f.SetSecret(context.Background(), "db", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if a = send(t, srv.URL, "PUT", "/v1/services/web", file, nil); a.status != 200 {
		t.Fatalf("apply once the secret exists: %d %s", a.status, a.body)
	}
}

// TestReadOnlyTokensCannotSetSecrets: a read-only token lists secrets but
// may neither set nor remove one.
func TestReadOnlyTokensCannotSetSecrets(t *testing.T) {
	f := newFake()
	access := map[string]Access{"read": AccessRead, "write": AccessWrite}
	srv := httptest.NewServer(NewHandler(f, (&logBuffer{}).logger(), Options{Authorize: func(tok string) Access { return access[tok] }}))
	defer srv.Close()
	read := http.Header{"Authorization": {"Bearer read"}}
	write := http.Header{"Authorization": {"Bearer write"}}
	if a := send(t, srv.URL, "GET", "/v1/secrets", "", read); a.status != 200 {
		t.Fatalf("list with a read-only token: %d", a.status)
	}
	if a := send(t, srv.URL, "PUT", "/v1/secrets/db", `{"value": "eA=="}`, read); a.status != 403 {
		t.Fatalf("set with a read-only token: %d", a.status)
	}
	if a := send(t, srv.URL, "DELETE", "/v1/secrets/db", "", read); a.status != 403 {
		t.Fatalf("rm with a read-only token: %d", a.status)
	}
	if a := send(t, srv.URL, "PUT", "/v1/secrets/db", `{"value": "eA=="}`, nil); a.status != 401 {
		t.Fatalf("set without a token: %d", a.status)
	}
	if got := f.recorded(); slices.ContainsFunc(got, func(c string) bool { return strings.HasPrefix(c, "SetSecret") || strings.HasPrefix(c, "DeleteSecret") }) {
		t.Fatalf("a refused request reached the backend: %v", got)
	}
	if a := send(t, srv.URL, "PUT", "/v1/secrets/db", `{"value": "eA=="}`, write); a.status != 200 {
		t.Fatalf("set with a management token: %d %s", a.status, a.body)
	}
}

func TestServiceFileSecrets(t *testing.T) {
	file := func(container string) []byte {
		return []byte(`{"service": "web", "desiredCount": 1, "taskDefinition": {"family": "web", "containerDefinitions": [` + container + `]}}`)
	}
	_, td, warnings, err := DecodeServiceFile(file(`{"name": "app", "image": "x", "environment": [{"name": "A", "value": "1"}],
		"secrets": [{"name": "DB_PASSWORD", "valueFrom": "db"}], "repositoryCredentials": {"credentialsParameter": "reg"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings %q", warnings)
	}
	cd := td.ContainerDefinitions[0]
	if len(cd.Secrets) != 1 || cd.Secrets[0] != (structs.SecretRef{Name: "DB_PASSWORD", ValueFrom: "db"}) || cd.RepositoryCredentials.CredentialsParameter != "reg" {
		t.Fatalf("decoded %+v", cd)
	}
	for name, tc := range map[string]struct{ container, field string }{
		"a secret without a variable": {`{"name": "app", "image": "x", "secrets": [{"valueFrom": "db"}]}`, "secrets[0].name"},
		"a variable set twice":        {`{"name": "app", "image": "x", "environment": [{"name": "A", "value": "1"}], "secrets": [{"name": "A", "valueFrom": "db"}]}`, "secrets[0].name"},
		"an ARN for a name":           {`{"name": "app", "image": "x", "secrets": [{"name": "A", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/db"}]}`, "secrets[0].valueFrom"},
		"credentials without a name":  {`{"name": "app", "image": "x", "repositoryCredentials": {}}`, "repositoryCredentials.credentialsParameter"},
		"an unknown secrets field":    {`{"name": "app", "image": "x", "secrets": [{"name": "A", "valueFrom": "db", "value": "pw"}]}`, "secrets[0].value"},
		"an s3 environment file":      {`{"name": "app", "image": "x", "environmentFiles": [{"value": "arn:aws:s3:::b/f.env", "type": "s3"}]}`, "environmentFiles[0].type"},
		"an environment file sent":    {`{"name": "app", "image": "x", "environmentFiles": [{"value": "f.env", "type": "file"}]}`, "environmentFiles[0]"},
	} {
		_, _, _, err := DecodeServiceFile(file(tc.container))
		fe, ok := err.(*FieldError)
		if !ok || fe.Field != "taskDefinition.containerDefinitions[0]."+tc.field {
			t.Errorf("%s: %v", name, err)
		}
	}
}
