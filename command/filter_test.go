package command

import (
	"slices"
	"strings"
	"testing"
)

// TestTagFilterFlags checks that --filter tag:KEY=VALUE (of ps, services,
// nodes and events) reaches the API as one tag parameter per filter, and that a filter of another kind, or one
// without a key, is refused before any request.
func TestTagFilterFlags(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		requests []string
	}{
		{[]string{"ps", "--filter", "tag:team=web", "--filter", "tag:ssd"}, []string{"GET /v1/tasks?tag=team%3Dweb&tag=ssd", "GET /v1/nodes"}},
		{[]string{"ps", "--service", "web", "--filter", "tag:env=", "--json"}, []string{"GET /v1/tasks?service=web&tag=env%3D"}},
		{[]string{"services", "--filter", "tag:team=a=b"}, []string{"GET /v1/services?tag=team%3Da%3Db"}},
		{[]string{"nodes", "--filter", "tag:zone=a", "--json"}, []string{"GET /v1/nodes?tag=zone%3Da"}},
		{[]string{"events", "--service", "web", "--filter", "tag:team=web", "--json"}, []string{"GET /v1/events?since=0&tag=team%3Dweb&topic=service%3Aweb&wait=0s"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := clusterAPI(t)
			f.answers["GET /v1/events"] = ok(`{"index":1,"events":[]}`)
			wantOK(t, skiffAt(f, tc.args...))
			if got := f.got(); !slices.Equal(got, tc.requests) {
				t.Errorf("requests %q, want %q", got, tc.requests)
			}
		})
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ps", "--filter", "team=web"}, `--filter "team=web": expected tag:KEY=VALUE or tag:KEY`},
		{[]string{"services", "--filter", "label:x"}, `--filter "label:x": expected tag:KEY=VALUE or tag:KEY`},
		{[]string{"nodes", "--filter", "tag:=a"}, `--filter "tag:=a": "=a": expected KEY=VALUE or KEY`},
		{[]string{"events", "--filter", "team"}, `--filter "team": expected tag:KEY=VALUE or tag:KEY`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := clusterAPI(t)
			r := skiffAt(f, tc.args...)
			if r.code != 1 || r.stderr != "skiff: "+tc.want+"\n" {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
			}
			if got := f.got(); len(got) != 0 {
				t.Errorf("requests %q before the flag was checked", got)
			}
		})
	}
}
