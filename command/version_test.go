package command

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/agent"
)

const healthJSON = `{"status":"ok","node":"a1b2c3d4-0000-4000-8000-000000000001","name":"pi-1","leader":"a1b2c3d4-0000-4000-8000-000000000001","isLeader":true,"index":42,"version":"9.8.7"}`

// clientLine is the line skiff version prints of this binary.
func clientLine() string {
	v := clientVersion()
	detail := v.Go + ", " + v.Platform
	if v.Commit != "" {
		detail += ", commit " + v.Commit
	}
	return fmt.Sprintf("client: %s (%s)\n", agent.Version, detail)
}

func TestVersion(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/health": ok(healthJSON)})
	r := skiffAt(f, "version")
	wantOK(t, r)
	if want := clientLine() + "server: 9.8.7 (node pi-1, a1b2c3d4, at " + f.URL + ")\n"; r.stdout != want {
		t.Errorf("stdout %q\nwant %q", r.stdout, want)
	}

	r = skiffAt(f, "version", "--json")
	wantOK(t, r)
	var v Versions
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatal(err)
	}
	if v.Client != clientVersion() || v.Client.Version != agent.Version || v.Server == nil || v.Server.Version != "9.8.7" || v.Server.Name != "pi-1" {
		t.Errorf("--json printed %+v, server %+v", v, v.Server)
	}
}

// TestVersionWithoutServer prints the client's version and fails with why
// the server's could not be had.
func TestVersionWithoutServer(t *testing.T) {
	f := newFakeAPI(t, nil)
	r := skiffAt(f, "version")
	if r.code != 1 || r.stdout != clientLine() || !strings.HasPrefix(r.stderr, "skiff: server: ") {
		t.Errorf("exit code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = skiffAt(f, "version", "--json")
	if r.code != 1 || !strings.Contains(r.stdout, `"server": null`) {
		t.Errorf("--json: exit code %d, stdout %q", r.code, r.stdout)
	}
}
