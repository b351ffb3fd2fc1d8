package command

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the output the tests get")

// Canned API answers, as an agent sends them. The times are fixed relative
// to the tests' clock, now.
const (
	nodesJSON = `[
  {"id":"a1b2c3d4-0000-4000-8000-000000000001","name":"pi-1","address":"10.0.0.1","apiAddress":"10.0.0.1:7070","cpu":4096,"memory":3800,"attributes":{"zone":"a"},"status":"ready","eligibility":"eligible","portMin":20000,"portMax":32767,"diskUsedPercent":42,"updatedAt":1767315661000},
  {"id":"b2c3d4e5-0000-4000-8000-000000000002","name":"pi-2","address":"10.0.0.2","apiAddress":"10.0.0.2:7070","cpu":4096,"memory":3800,"status":"down","eligibility":"ineligible","portMin":20000,"portMax":32767,"updatedAt":1767315661000}
]`
	tasksJSON = `[
  {"id":"f00dfeed-1111-4111-8111-111111111111","service":"web","taskDefinition":"web:1","node":"a1b2c3d4-0000-4000-8000-000000000001","desiredStatus":"RUNNING","lastStatus":"RUNNING","cpu":64,"memory":32,"hostPorts":[20000,20001],"containers":[{"name":"app","status":"running"}],"createdAt":1767322955000,"startedAt":1767322956000},
  {"id":"deadbeef-2222-4222-8222-222222222222","service":"web","taskDefinition":"web:1","node":"a1b2c3d4-0000-4000-8000-000000000001","desiredStatus":"RUNNING","lastStatus":"PENDING","cpu":64,"memory":32,"createdAt":1767315661000},
  {"id":"c0ffee00-3333-4333-8333-333333333333","service":"","taskDefinition":"busybox:1","node":"e5f6a7b8-0000-4000-8000-000000000009","desiredStatus":"STOPPED","lastStatus":"STOPPED","cpu":0,"memory":128,"stoppedReason":"exited with code 7","failed":true,"createdAt":0}
]`
	servicesJSON = `[
  {"name":"web","taskDefinition":"web:1","desiredCount":3,"placementStrategy":[{"type":"spread","field":"node"}],"restartPolicy":{},"createdAt":1767315661000,"updatedAt":1767315661000,"runningCount":1,"pendingCount":1},
  {"name":"big","taskDefinition":"big:2","desiredCount":1,"restartPolicy":{"maxBackoffSeconds":60},"createdAt":1767315661000,"updatedAt":1767315661000,"runningCount":0,"pendingCount":0,"message":"0 of 2 nodes can run big:2"}
]`
	taskdefsJSON = `[
  {"family":"web","revision":1,"containerDefinitions":[{"name":"app","image":"skiff-testapp:latest","cpu":64,"memory":32},{"name":"sidecar","image":"busybox","cpu":10,"memory":16}]},
  {"family":"busybox","revision":1,"containerDefinitions":[{"name":"busybox","image":"busybox","memory":128}]}
]`
	membersJSON = `[
  {"id":"a1b2c3d4-0000-4000-8000-000000000001","n":"pi-1","r":"10.0.0.1:7071","a":"10.0.0.1:7070","c":4096,"m":3800,"at":{"zone":"a"},"v":"0.1.0-dev","be":3,"addr":"10.0.0.1:7946","status":"alive","since":"2026-01-02T01:00:01Z"},
  {"id":"b2c3d4e5-0000-4000-8000-000000000002","n":"pi-2","r":"10.0.0.2:7071","a":"10.0.0.2:7070","v":"0.1.0-dev","l":true,"addr":"10.0.0.2:7946","status":"dead","since":"2026-01-02T03:03:35Z"}
]`
	volumesJSON = `[
  {"node":"a1b2c3d4-0000-4000-8000-000000000001","nodeName":"pi-1","name":"pgdata","volume":"pgdata","scope":"shared","driver":"local","service":"db","labels":{"team":"db"}},
  {"node":"a1b2c3d4-0000-4000-8000-000000000001","nodeName":"pi-1","name":"skiff-f00dfeed-1111-4111-8111-111111111111-tmp","volume":"tmp","scope":"task","driver":"local","service":"web","task":"f00dfeed-1111-4111-8111-111111111111"}
]`
	secretsJSON = `[
  {"name":"db.password","size":16,"version":2,"createdAt":1767315661000,"updatedAt":1767322955000,"usedBy":["api","web"]},
  {"name":"registry","size":48,"version":1,"createdAt":1767315661000,"updatedAt":1767315661000}
]`
	schedulesJSON = `[
  {"name":"backup","schedule":"cron(0 3 * * ? *)","taskDefinition":"backup:2","concurrency":"forbid","createdAt":1767315661000,"updatedAt":1767315661000,
   "nextRun":1767409200000,"runs":[
    {"at":1767150000000,"task":"0196f0a0-0000-7000-8000-00000000a1b2","lastStatus":"STOPPED","exitCode":0},
    {"at":1767236400000,"task":"0196f0a0-0000-7000-8000-00000000c3d4","lastStatus":"RUNNING"},
    {"at":1767322800000,"skipped":"concurrency forbid: the task of an earlier run (0196f0a0-0000-7000-8000-00000000c3d4) is still active"}]},
  {"name":"report","schedule":"rate(1 hour)","taskDefinition":"report:1","concurrency":"allow","createdAt":1767315661000,"updatedAt":1767315661000,
   "nextRun":1767326461000}
]`
	peersJSON = `[
  {"id":"a1b2c3d4-0000-4000-8000-000000000001","address":"10.0.0.1:7071","voter":true,"leader":true},
  {"id":"b2c3d4e5-0000-4000-8000-000000000002","address":"10.0.0.2:7071","voter":true,"leader":false},
  {"id":"e5f6a7b8-0000-4000-8000-000000000009","address":"10.0.0.9:7071","voter":false,"leader":false}
]`
)

// clusterAPI answers every listing with the canned answers above.
func clusterAPI(t *testing.T) *fakeAPI {
	return newFakeAPI(t, map[string]answer{
		"GET /v1/nodes":      ok(nodesJSON),
		"GET /v1/tasks":      ok(tasksJSON),
		"GET /v1/services":   ok(servicesJSON),
		"GET /v1/taskdefs":   ok(taskdefsJSON),
		"GET /v1/members":    ok(membersJSON),
		"GET /v1/raft/peers": ok(peersJSON),
		"GET /v1/volumes":    ok(volumesJSON),
		"GET /v1/secrets":    ok(secretsJSON),
		"GET /v1/schedules":  ok(schedulesJSON),
	})
}

// listings are the listing commands, each with its golden file and the
// requests its table takes.
var listings = []struct {
	args     []string
	golden   string
	requests []string
	// fields are the JSON field names of --json's first item.
	fields []string
}{
	{[]string{"ps"}, "ps", []string{"GET /v1/tasks?", "GET /v1/nodes"},
		[]string{"containers", "cpu", "createdAt", "desiredStatus", "hostPorts", "id", "lastStatus", "memory", "node", "service", "startedAt", "taskDefinition"}},
	{[]string{"services"}, "services", []string{"GET /v1/services"},
		[]string{"createdAt", "desiredCount", "name", "pendingCount", "placementStrategy", "restartPolicy", "runningCount", "taskDefinition", "updatedAt"}},
	{[]string{"nodes"}, "nodes", []string{"GET /v1/nodes", "GET /v1/tasks?"},
		[]string{"address", "apiAddress", "attributes", "cpu", "diskUsedPercent", "eligibility", "id", "memory", "name", "portMax", "portMin", "status", "updatedAt"}},
	{[]string{"taskdefs"}, "taskdefs", []string{"GET /v1/taskdefs"},
		[]string{"containerDefinitions", "family", "revision"}},
	{[]string{"members"}, "members", []string{"GET /v1/members"},
		[]string{"a", "addr", "at", "be", "c", "id", "m", "n", "r", "since", "status", "v"}},
	{[]string{"volumes"}, "volumes", []string{"GET /v1/volumes"},
		[]string{"driver", "labels", "name", "node", "nodeName", "scope", "service", "volume"}},
	{[]string{"raft", "peers"}, "raft-peers", []string{"GET /v1/raft/peers", "GET /v1/nodes"},
		[]string{"address", "id", "leader", "voter"}},
	{[]string{"schedules"}, "schedules", []string{"GET /v1/schedules"},
		[]string{"concurrency", "createdAt", "name", "nextRun", "runs", "schedule", "taskDefinition", "updatedAt"}},
	{[]string{"secret", "ls"}, "secrets", []string{"GET /v1/secrets"},
		[]string{"createdAt", "name", "size", "updatedAt", "usedBy", "version"}},
}

func TestListingTables(t *testing.T) {
	for _, l := range listings {
		t.Run(l.golden, func(t *testing.T) {
			f := clusterAPI(t)
			r := skiffAt(f, l.args...)
			wantOK(t, r)
			golden(t, l.golden, r.stdout)
			if got := f.got(); !slices.Equal(got, l.requests) {
				t.Errorf("requests %q, want %q", got, l.requests)
			}
		})
	}
}

// TestListingJSON checks that --json prints the API's items with the API's
// field names, and asks the API for nothing more than the items.
func TestListingJSON(t *testing.T) {
	for _, l := range listings {
		t.Run(l.golden, func(t *testing.T) {
			f := clusterAPI(t)
			r := skiffAt(f, append(l.args, "--json")...)
			wantOK(t, r)
			var items []map[string]json.RawMessage
			if err := json.Unmarshal([]byte(r.stdout), &items); err != nil {
				t.Fatalf("--json printed %q: %v", r.stdout, err)
			}
			if len(items) < 2 {
				t.Fatalf("--json printed %d items, want the API's", len(items))
			}
			var fields []string
			for k := range items[0] {
				fields = append(fields, k)
			}
			sort.Strings(fields)
			if !reflect.DeepEqual(fields, l.fields) {
				t.Errorf("fields %q, want %q", fields, l.fields)
			}
			if got := f.got(); len(got) != 1 || got[0] != l.requests[0] {
				t.Errorf("requests %q, want only %q", got, l.requests[0])
			}
			if r.stdout[:4] != "[\n  " {
				t.Errorf("--json printed %q..., want an indented array", r.stdout[:4])
			}
		})
	}
}

// TestListingJSONIsTheAPIAnswer checks that --json re-encodes the API's
// answer without losing or renaming anything, for an answer whose every
// field is set.
func TestListingJSONIsTheAPIAnswer(t *testing.T) {
	f := clusterAPI(t)
	r := skiffAt(f, "raft", "peers", "--json")
	wantOK(t, r)
	var got, want any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(peersJSON), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("--json printed %s, want the API's %s", r.stdout, peersJSON)
	}
}

func TestPsFlagsGoToTheQuery(t *testing.T) {
	f := clusterAPI(t)
	wantOK(t, skiffAt(f, "--consistent", "ps", "--service", "web", "-a", "--json"))
	if got := f.got(); !slices.Equal(got, []string{"GET /v1/tasks?all=1&service=web&consistent"}) {
		t.Errorf("requests %q", got)
	}
}

// TestPsWithoutNodeNames checks that ps still lists tasks, by node id,
// when the API cannot name the nodes.
func TestPsWithoutNodeNames(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/tasks": ok(tasksJSON)})
	r := skiffAt(f, "ps")
	wantOK(t, r)
	golden(t, "ps-without-node-names", r.stdout)
}

// golden compares got with testdata/name.golden, or rewrites the file with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestVolumesNodeErrors: a node that could not be asked is said on
// standard error, and the table keeps one volume a line.
func TestVolumesNodeErrors(t *testing.T) {
	body := strings.Replace(volumesJSON, "\n]", `,
  {"node":"b2c3d4e5-0000-4000-8000-000000000002","nodeName":"pi-2","error":"the node is down"}
]`, 1)
	r := skiffAt(newFakeAPI(t, map[string]answer{"GET /v1/volumes": ok(body)}), "volumes")
	if r.code != 0 || r.stderr != "skiff: volumes of node pi-2: the node is down\n" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	golden(t, "volumes", r.stdout)
}
