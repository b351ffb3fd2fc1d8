package command

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWrongArgumentCount(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ps", "x"}, "skiff: ps takes 0 argument(s):  \n"},
		{[]string{"services", "x"}, "skiff: services takes 0 argument(s):  \n"},
		{[]string{"nodes", "x"}, "skiff: nodes takes 0 argument(s):  \n"},
		{[]string{"taskdefs", "x"}, "skiff: taskdefs takes 0 argument(s):  \n"},
		{[]string{"members", "x"}, "skiff: members takes 0 argument(s):  \n"},
		{[]string{"raft", "peers", "x"}, "skiff: peers takes 0 argument(s):  \n"},
		{[]string{"scale", "web"}, "skiff: scale takes 2 argument(s): SERVICE COUNT\n"},
		{[]string{"stop"}, "skiff: stop takes 1 argument(s): TASK\n"},
		{[]string{"rm", "a", "b"}, "skiff: rm takes 1 argument(s): SERVICE\n"},
		{[]string{"logs"}, "skiff: logs takes 1 argument(s): TASK | --service S\n"},
		{[]string{"drain"}, "skiff: drain takes 1 argument(s): NODE\n"},
		{[]string{"leave", "now"}, "skiff: leave takes 0 argument(s):  \n"},
		{[]string{"apply", "-f", "web.json", "x"}, "skiff: apply takes 0 argument(s):  \n"},
		{[]string{"agent", "x"}, "skiff: agent takes 0 argument(s):  \n"},
		{[]string{"run"}, "skiff: run needs an IMAGE or --file FILE\n"},
		{[]string{"run", "-f", "td.json", "nginx"}, "skiff: run takes either an IMAGE or --file, not both\n"},
		{[]string{"scale", "web", "many"}, "skiff: COUNT \"many\": expected a whole number\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := clusterAPI(t)
			r := skiffAt(f, tc.args...)
			if r.code != 1 || r.stderr != tc.want || r.stdout != "" {
				t.Errorf("got exit code %d, stdout %q, stderr %q; want 1, nothing, %q", r.code, r.stdout, r.stderr, tc.want)
			}
			if got := f.got(); len(got) != 0 {
				t.Errorf("sent %q; want nothing sent", got)
			}
		})
	}
}

func TestAPIErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer answer
		want   string
	}{
		{"field error", answer{http.StatusNotFound, `{"field":"service","error":"no service named web"}`}, "skiff: service: no service named web\n"},
		{"body error", answer{http.StatusBadRequest, `{"field":"body","error":"malformed JSON"}`}, "skiff: malformed JSON\n"},
		{"no leader", answer{http.StatusServiceUnavailable, `{"error":"no leader is known"}`}, "skiff: no leader is known\n"},
		{"not JSON", answer{http.StatusBadGateway, "bad gateway\n"}, "skiff: bad gateway\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string]answer{"POST /v1/services/web/scale": tc.answer})
			r := skiffAt(f, "scale", "web", "3")
			if r.code != 1 || r.stderr != tc.want || r.stdout != "" {
				t.Errorf("got exit code %d, stdout %q, stderr %q; want 1, nothing, %q", r.code, r.stdout, r.stderr, tc.want)
			}
		})
	}
}

func TestListingAPIError(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/nodes": {http.StatusServiceUnavailable, `{"error":"no leader is known"}`}})
	for _, args := range [][]string{{"nodes"}, {"nodes", "--json"}} {
		r := skiffAt(f, args...)
		if r.code != 1 || r.stderr != "skiff: no leader is known\n" || r.stdout != "" {
			t.Errorf("%q: got exit code %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

// TestNodesNeedTasks checks that nodes fails, instead of showing nothing
// used, when the API cannot list the tasks.
func TestNodesNeedTasks(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"GET /v1/nodes": ok(nodesJSON),
		"GET /v1/tasks": {http.StatusInternalServerError, `{"error":"boom"}`},
	})
	r := skiffAt(f, "nodes")
	if r.code != 1 || r.stderr != "skiff: boom\n" || r.stdout != "" {
		t.Errorf("got exit code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestUnreachableAgent(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	r := skiff("", "--addr", srv.URL, "services")
	want := "skiff: cannot reach the skiff agent at " + srv.URL + ": "
	if r.code != 1 || !strings.HasPrefix(r.stderr, want) || r.stdout != "" {
		t.Errorf("got exit code %d, stdout %q, stderr %q; want 1, nothing, %q...", r.code, r.stdout, r.stderr, want)
	}
}

// TestSkiffAddr checks that SKIFF_ADDR names the agent, with or without a
// scheme, and that --addr wins over it.
func TestSkiffAddr(t *testing.T) {
	f := clusterAPI(t)
	hostPort := strings.TrimPrefix(f.URL, "http://")
	for _, addr := range []string{f.URL, hostPort} {
		t.Setenv("SKIFF_ADDR", addr)
		wantOK(t, skiff("", "services"))
	}
	t.Setenv("SKIFF_ADDR", "127.0.0.1:1")
	wantOK(t, skiff("", "--addr", hostPort, "services"))
	if got := f.got(); len(got) != 3 {
		t.Errorf("requests %q, want 3", got)
	}
}

// TestUnknownCommand checks that a command skiff lacks is refused with
// the nearest it has, and that skiff alone shows the help.
func TestUnknownCommand(t *testing.T) {
	r := skiff("", "nodse")
	if r.code != 3 || r.stderr != `skiff: unknown command "nodse". Did you mean "nodes"? (skiff help lists them)`+"\n" {
		t.Errorf("got exit code %d, stderr %q", r.code, r.stderr)
	}
	r = skiff("")
	if r.code != 0 || !strings.Contains(r.stdout, "COMMANDS:") {
		t.Errorf("no command: exit code %d, stdout %q", r.code, r.stdout)
	}
	r = skiff("", "acl", "token", "lsit")
	if r.code != 3 || r.stderr != `skiff: unknown acl token command "lsit". Did you mean "list"? (skiff acl token --help lists them)`+"\n" {
		t.Errorf("got exit code %d, stderr %q", r.code, r.stderr)
	}
	r = skiff("", "inspect")
	if r.code != 0 || !strings.Contains(r.stdout, "skiff inspect - show everything") {
		t.Errorf("inspect alone: exit code %d, stdout %q", r.code, r.stdout)
	}
}

func TestUnknownFlag(t *testing.T) {
	r := skiff("", "ps", "--bogus")
	if r.code != 1 || r.stderr != "skiff: flag provided but not defined: -bogus\n" {
		t.Errorf("got exit code %d, stderr %q", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "Incorrect Usage: flag provided but not defined: -bogus") {
		t.Errorf("stdout %q, want the usage", r.stdout)
	}
}

func TestRequiredFlag(t *testing.T) {
	r := skiff("", "apply")
	if r.code != 1 || r.stderr != "skiff: Required flag \"file\" not set\n" {
		t.Errorf("got exit code %d, stderr %q", r.code, r.stderr)
	}
}

func TestHelpAndVersionGoToTheWriter(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"raft", "--help"}, {"ps", "--help"}, {"--version"}} {
		r := skiff("", args...)
		wantOK(t, r)
		if r.stdout == "" {
			t.Errorf("%q printed nothing", args)
		}
	}
}
