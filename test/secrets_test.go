package test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/pki"
	"github.com/skiff-run/skiff/structs"
	"github.com/skiff-run/skiff/token"
)

func secretFile(name string, count int, secret string) []byte {
	return []byte(fmt.Sprintf(`{"service":%q,"desiredCount":%d,"placementStrategy":[{"type":"spread","field":"node"}],
	  "taskDefinition":{"family":%q,"containerDefinitions":[{"name":"app","image":"img","memory":16,
	    "secrets":[{"name":"DB_PASSWORD","valueFrom":%q}]}]}}`, name, count, name, secret))
}

// secretEverywhere waits until every member runs one task of svc whose
// container got value as DB_PASSWORD.
func secretEverywhere(t *testing.T, c *testcluster.Cluster, svc, value string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		for _, m := range c.Members {
			found := false
			for _, tk := range m.Agent().State().TasksByService(svc) {
				if tk.Node == m.Agent().ID() && tk.LastStatus == structs.StatusRunning {
					found = found || slices.Contains(m.Runtime.Env(tk.ID, "app"), "DB_PASSWORD="+value)
				}
			}
			if !found {
				return false, m.Name + " runs no task of " + svc + " with the secret in its environment"
			}
		}
		return true, ""
	})
}

// TestClusterSecrets sets a secret through a follower and runs a service
// that reads it on every node; the value reaches each container's
// environment and no API answer, nor any file under any data dir (Raft
// log, snapshots). A secret a service reads cannot be removed. After the
// cluster secret rotates and the old one is retired everywhere, the
// leader has sealed the value again under the new secret, so that tasks
// started after the grace still get it, on every node.
func TestClusterSecrets(t *testing.T) {
	c := testcluster.NewTuned(t, 3, 3, func(cfg *agent.Config) { cfg.RotationGrace = rotationGrace })
	ctx := context.Background()
	var follower *testcluster.Member
	for _, m := range c.Members {
		if m != c.Leader() {
			follower = m
		}
	}
	const value = "pa55word-of-the-cluster"
	info, err := follower.Client().SetSecret(ctx, "db", []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != len(value) || info.Version != 1 {
		t.Fatalf("set answered %+v", info)
	}
	if _, err := follower.Client().ApplyService(ctx, "web", secretFile("web", 3, "db")); err != nil {
		t.Fatal(err)
	}
	secretEverywhere(t, c, "web", value)

	err = follower.Client().DeleteSecret(ctx, "db")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || !strings.Contains(err.Error(), "web") {
		t.Fatalf("rm of a secret a service reads: %v", err)
	}

	rot, err := follower.Client().RotateToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next, err := token.Parse(rot.Token)
	if err != nil {
		t.Fatal(err)
	}
	nextKey, err := next.ValueKey()
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() (bool, string) {
		for _, m := range c.Members {
			if s := m.Agent().State().Secret("db"); s.KeyID != nextKey.ID() || s.Version != 1 {
				return false, fmt.Sprintf("%s: the secret is sealed under key %s, version %d", m.Name, s.KeyID, s.Version)
			}
		}
		return true, ""
	})
	time.Sleep(rotationGrace + time.Second)
	if _, err := follower.Client().ApplyService(ctx, "after", secretFile("after", 3, "db")); err != nil {
		t.Fatal(err)
	}
	secretEverywhere(t, c, "after", value)
	c.EnsureSame(t)

	forms := [][]byte{[]byte(value), []byte(base64.StdEncoding.EncodeToString([]byte(value)))}
	for _, m := range c.Members {
		for _, path := range []string{"/v1/secrets", "/v1/taskdefs", "/v1/services", "/v1/tasks?all", "/v1/nodes"} {
			raw := getRaw(t, m.Dir, m.HTTPAddr, m.Client().Token, path)
			for _, f := range forms {
				if bytes.Contains(raw, f) {
					t.Fatalf("%s: GET %s gives the secret away: %s", m.Name, path, raw)
				}
			}
		}
		snap := persisted(t, m.Agent())
		for _, f := range forms {
			if bytes.Contains(snap, f) {
				t.Fatalf("%s: a snapshot holds the secret's value", m.Name)
			}
		}
		if !bytes.Contains(snap, []byte(`"keyId":"`+nextKey.ID())) {
			t.Fatalf("%s: the snapshot holds no sealed secret", m.Name)
		}
		noValueUnder(t, m.Dir, forms)
	}
}

// getRaw is the body of an API read from the agent at addr whose data dir
// is dir, as any https client with the cluster's CA and an API token gets
// it.
func getRaw(t *testing.T, dir, addr, tok, path string) []byte {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(dir, agent.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pki.ClientTLS(ca)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return raw
}

// persisted is a snapshot of a's replica as Raft would write it.
func persisted(t *testing.T, a *agent.Agent) []byte {
	t.Helper()
	snap, err := a.FSM().Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s bufferSink
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	return s.Bytes()
}

// noValueUnder fails the test if any file under dir holds one of forms.
func noValueUnder(t *testing.T, dir string, forms [][]byte) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, f := range forms {
			if bytes.Contains(raw, f) {
				return fmt.Errorf("%s holds the secret's value", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no files under %s", dir)
	}
}
