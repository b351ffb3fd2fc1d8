package command

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

const endpointsJSON = `{"index": 42, "endpoints": [
  {"service":"web","taskId":"0196f0a0-0000-7000-8000-00000000a1b2","node":"a1b2c3d4-0000-4000-8000-000000000001","nodeName":"pi-1","address":"10.0.0.1","containerName":"app","containerPort":8080,"hostPort":20000,"protocol":"tcp","healthy":true},
  {"service":"web","taskId":"0196f0a0-0000-7000-8000-00000000c3d4","node":"b2c3d4e5-0000-4000-8000-000000000002","nodeName":"pi-2","address":"10.0.0.2","containerName":"app","containerPort":8080,"hostPort":20001,"protocol":"tcp","healthy":false}
]}`

func TestEndpointsTable(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/services/web/endpoints": ok(endpointsJSON)})
	r := skiffAt(f, "endpoints", "web")
	wantOK(t, r)
	golden(t, "endpoints", r.stdout)
	if got := f.got(); !slices.Equal(got, []string{"GET /v1/services/web/endpoints"}) {
		t.Errorf("requests %q", got)
	}
}

func TestEndpointsJSON(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/services/web/endpoints": ok(endpointsJSON)})
	r := skiffAt(f, "endpoints", "--json", "web")
	wantOK(t, r)
	var items []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &items); err != nil {
		t.Fatalf("--json printed %q: %v", r.stdout, err)
	}
	if len(items) != 2 || items[1]["nodeName"] != "pi-2" || items[1]["healthy"] != false || items[0]["hostPort"] != 20000.0 {
		t.Fatalf("--json printed %s", r.stdout)
	}
}

func TestEndpointsNeedsAService(t *testing.T) {
	f := newFakeAPI(t, nil)
	r := skiffAt(f, "endpoints")
	if r.code == 0 || !strings.Contains(r.stderr, "endpoints takes 1 argument(s): SERVICE") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if len(f.got()) != 0 {
		t.Fatalf("requests %q, want none", f.got())
	}
}
