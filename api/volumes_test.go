package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

func volumeFile(volumes, containers string) string {
	return `{"service":"db","desiredCount":1,"taskDefinition":{"family":"db","volumes":[` + volumes +
		`],"containerDefinitions":[` + containers + `]}}`
}

func TestDecodeVolumes(t *testing.T) {
	raw := volumeFile(`{"name":"data","dockerVolumeConfiguration":{"scope":"shared","autoprovision":true,"driver":"local",
		"driverOpts":{"type":"tmpfs","device":"tmpfs"},"labels":{"team":"db"}}},
		{"name":"conf","host":{"sourcePath":"/srv/db/conf"}},
		{"name":"scratch"},
		{"name":"efs","efsVolumeConfiguration":{"fileSystemId":"fs-1"}}`,
		`{"name":"db","image":"x","mountPoints":[{"sourceVolume":"data","containerPath":"/var/lib/db"},
			{"sourceVolume":"conf","containerPath":"/etc/db","readOnly":true}]},
		 {"name":"backup","image":"x","essential":false,"volumesFrom":[{"sourceContainer":"db","readOnly":true}]}`)
	_, td, warnings, err := DecodeServiceFile([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(td.Volumes) != 4 || td.Volumes[0].Scope() != structs.ScopeShared || !td.Volumes[0].Autoprovisions() ||
		td.Volumes[0].DockerVolumeConfiguration.Labels["team"] != "db" || td.Volumes[1].HostPath() != "/srv/db/conf" ||
		td.Volumes[2].Scope() != structs.ScopeTask {
		t.Fatalf("volumes %+v", td.Volumes)
	}
	if got := strings.Join(td.StickyVolumes(), ","); got != "data,conf" {
		t.Errorf("sticky volumes %q, want data,conf", got)
	}
	db, backup := td.ContainerDefinitions[0], td.ContainerDefinitions[1]
	if len(db.MountPoints) != 2 || !db.MountPoints[1].ReadOnly || db.MountPoints[0].ContainerPath != "/var/lib/db" ||
		len(backup.VolumesFrom) != 1 || !backup.VolumesFrom[0].ReadOnly {
		t.Fatalf("containers %+v", td.ContainerDefinitions)
	}
	// The EFS volume needs AWS: it is accepted, with a warning, and
	// mounts nothing.
	if len(warnings) != 1 || !strings.Contains(warnings[0], "taskDefinition.volumes[3].efsVolumeConfiguration is an ECS field") {
		t.Errorf("warnings %q", warnings)
	}
	// volumesFrom orders the start: the source container first.
	order, err := structs.StartOrder(td)
	if err != nil || order[0].Name != "db" {
		t.Fatalf("start order %v %v", order, err)
	}
}

func TestDecodeBadVolumes(t *testing.T) {
	ok := `{"name":"a","image":"x"}`
	cases := []struct{ name, body, field, msg string }{
		{"mount of a missing volume", volumeFile(`{"name":"data"}`, `{"name":"a","image":"x","mountPoints":[{"sourceVolume":"x","containerPath":"/d"}]}`),
			"taskDefinition.containerDefinitions[0].mountPoints[0].sourceVolume", `no volume "x" in taskDefinition.volumes`},
		{"mount without volume", volumeFile(``, `{"name":"a","image":"x","mountPoints":[{"containerPath":"/d"}]}`),
			"taskDefinition.containerDefinitions[0].mountPoints[0].sourceVolume", "required"},
		{"relative container path", volumeFile(`{"name":"data"}`, `{"name":"a","image":"x","mountPoints":[{"sourceVolume":"data","containerPath":"d"}]}`),
			"taskDefinition.containerDefinitions[0].mountPoints[0].containerPath", "absolute path"},
		{"container path twice", volumeFile(`{"name":"data"},{"name":"more"}`, `{"name":"a","image":"x","mountPoints":[{"sourceVolume":"data","containerPath":"/d"},{"sourceVolume":"more","containerPath":"/d"}]}`),
			"taskDefinition.containerDefinitions[0].mountPoints[1].containerPath", "mounted twice"},
		{"mount point typo", volumeFile(`{"name":"data"}`, `{"name":"a","image":"x","mountPoints":[{"sourceVolume":"data","containerPath":"/d","readonly":true}]}`),
			"taskDefinition.containerDefinitions[0].mountPoints[0].readonly", "unknown field"},
		{"volume without name", volumeFile(`{"host":{"sourcePath":"/srv"}}`, ok), "taskDefinition.volumes[0].name", "required"},
		{"duplicate volume", volumeFile(`{"name":"data"},{"name":"data"}`, ok), "taskDefinition.volumes[1].name", "duplicate volume"},
		{"relative host path", volumeFile(`{"name":"data","host":{"sourcePath":"srv/data"}}`, ok), "taskDefinition.volumes[0].host.sourcePath", "absolute path"},
		{"host path walking up", volumeFile(`{"name":"data","host":{"sourcePath":"/srv/../etc"}}`, ok), "taskDefinition.volumes[0].host.sourcePath", "absolute path"},
		{"host path with a colon", volumeFile(`{"name":"data","host":{"sourcePath":"/srv/a:b"}}`, ok), "taskDefinition.volumes[0].host.sourcePath", "colon"},
		{"host and docker", volumeFile(`{"name":"data","host":{"sourcePath":"/srv"},"dockerVolumeConfiguration":{}}`, ok), "taskDefinition.volumes[0]", "not both"},
		{"bad scope", volumeFile(`{"name":"data","dockerVolumeConfiguration":{"scope":"global"}}`, ok), "taskDefinition.volumes[0].dockerVolumeConfiguration.scope", "task or shared"},
		{"autoprovision of a task volume", volumeFile(`{"name":"data","dockerVolumeConfiguration":{"autoprovision":false}}`, ok), "taskDefinition.volumes[0].dockerVolumeConfiguration.autoprovision", "only to a shared volume"},
		{"other driver", volumeFile(`{"name":"data","dockerVolumeConfiguration":{"driver":"rexray/ebs"}}`, ok), "taskDefinition.volumes[0].dockerVolumeConfiguration.driver", "only the local driver"},
		{"skiff label", volumeFile(`{"name":"data","dockerVolumeConfiguration":{"labels":{"skiff.node":"n"}}}`, ok), "taskDefinition.volumes[0].dockerVolumeConfiguration.labels", "skiff's own"},
		{"unknown volume field", volumeFile(`{"name":"data","hostPath":"/srv"}`, ok), "taskDefinition.volumes[0].hostPath", "unknown field"},
		{"volumesFrom missing", volumeFile(``, `{"name":"a","image":"x","volumesFrom":[{"sourceContainer":"b"}]}`),
			"taskDefinition.containerDefinitions[0].volumesFrom[0].sourceContainer", "not another container"},
		{"volumesFrom itself", volumeFile(``, `{"name":"a","image":"x","volumesFrom":[{"sourceContainer":"a"}]}`),
			"taskDefinition.containerDefinitions[0].volumesFrom[0].sourceContainer", "not another container"},
		{"volumesFrom cycle", volumeFile(``, `{"name":"a","image":"x","volumesFrom":[{"sourceContainer":"b"}]},{"name":"b","image":"x","volumesFrom":[{"sourceContainer":"a"}]}`),
			"taskDefinition.containerDefinitions", "cycle"},
		{"too many volumes", volumeFile(strings.TrimSuffix(strings.Repeat(`{"name":"v"},`, MaxVolumes+1), ","), ok), "taskDefinition.volumes", "at most 20 volumes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, _, err := DecodeServiceFile([]byte(c.body))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want a FieldError, got %v", err)
			}
			if fe.Field != c.field || !strings.Contains(fe.Message, c.msg) {
				t.Fatalf("got %q: %q; want %q containing %q", fe.Field, fe.Message, c.field, c.msg)
			}
		})
	}
}

func TestHostPathAllowed(t *testing.T) {
	for _, c := range []struct {
		prefixes []string
		path     string
		want     bool
	}{
		{nil, "/srv/data", false},
		{[]string{"/srv"}, "/srv/data", true},
		{[]string{"/srv"}, "/srv", true},
		{[]string{"/srv"}, "/srvx", false},
		{[]string{"/srv/data"}, "/srv", false},
		{[]string{"/"}, "/var/run/docker.sock", true},
		{[]string{"/srv", "/var/run/docker.sock"}, "/var/run/docker.sock", true},
	} {
		if got := structs.HostPathAllowed(c.prefixes, c.path); got != c.want {
			t.Errorf("HostPathAllowed(%q, %q) = %v, want %v", c.prefixes, c.path, got, c.want)
		}
	}
}

// TestVolumesFromEveryNode: GET /v1/volumes lists this node's volumes from
// its own engine and asks the other node over the agent link, passing the
// caller's token on; a node that cannot be asked is one entry with its
// error; ?node asks one node.
func TestVolumesFromEveryNode(t *testing.T) {
	other := newFake()
	other.health.Node = "n2"
	other.volumes = []structs.NodeVolume{{Name: "pgdata", Volume: "pgdata", Scope: structs.ScopeShared, Service: "db"}}
	var gotToken string
	otherSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotToken = r.Header.Get("Authorization")
		NewHandler(other, (&logBuffer{}).logger(), Options{}).ServeHTTP(w, r)
	}))
	t.Cleanup(otherSrv.Close)

	f := newFake()
	f.volumes = []structs.NodeVolume{{Name: "skiff-aaaa1111-tmp", Volume: "tmp", Scope: structs.ScopeTask, Service: "web", Task: "aaaa1111"}}
	f.nodeAPI["n2"] = strings.TrimPrefix(otherSrv.URL, "http://")
	srv := serve(t, f, &logBuffer{})
	var got []structs.NodeVolume
	a := send(t, srv.URL, "GET", "/v1/volumes", "", http.Header{"Authorization": {"Bearer secret"}})
	if err := json.Unmarshal(a.body, &got); a.status != 200 || err != nil {
		t.Fatalf("%d %s %v", a.status, a.body, err)
	}
	want := []structs.NodeVolume{
		{Node: "n1", NodeName: "one", Name: "skiff-aaaa1111-tmp", Volume: "tmp", Scope: structs.ScopeTask, Service: "web", Task: "aaaa1111"},
		{Node: "n2", NodeName: "two", Name: "pgdata", Volume: "pgdata", Scope: structs.ScopeShared, Service: "db"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if gotToken != "Bearer secret" {
		t.Errorf("the other node got token %q", gotToken)
	}

	// ?node asks that node alone.
	a = send(t, srv.URL, "GET", "/v1/volumes?node=n2", "", nil)
	if err := json.Unmarshal(a.body, &got); err != nil || len(got) != 1 || got[0].Name != "pgdata" {
		t.Fatalf("?node=n2: %d %s", a.status, a.body)
	}
	if a := send(t, srv.URL, "GET", "/v1/volumes?node=n9", "", nil); a.status != 404 {
		t.Errorf("?node=n9: %d %s", a.status, a.body)
	}

	// A node that does not answer, or is down, is an entry with its error.
	otherSrv.Close()
	a = send(t, srv.URL, "GET", "/v1/volumes", "", nil)
	if err := json.Unmarshal(a.body, &got); err != nil || len(got) != 2 || got[1].Node != "n2" || !strings.Contains(got[1].Error, "the node did not answer") {
		t.Fatalf("n2 closed: %d %s", a.status, a.body)
	}
	f.state.nodes[1].Status = structs.NodeDown
	a = send(t, srv.URL, "GET", "/v1/volumes", "", nil)
	if err := json.Unmarshal(a.body, &got); err != nil || len(got) != 2 || got[1].Error != "the node is down" {
		t.Fatalf("n2 down: %d %s", a.status, a.body)
	}
}
