package command

import (
	"slices"
	"strings"
	"testing"
)

func TestLogsOptions(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/tasks/f00d/logs": ok("2026-01-02T03:00:00.000000000Z hi\n")})
	r := skiffAt(f, "logs", "--tail", "5", "--since", "10m", "-t", "f00d")
	wantOK(t, r)
	if r.stdout != "2026-01-02T03:00:00.000000000Z hi\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	want := []string{"GET /v1/tasks/f00d/logs?since=2026-01-02T02%3A54%3A05Z&tail=5&timestamps=1"}
	if got := f.got(); !slices.Equal(got, want) {
		t.Errorf("requests %q\nwant %q", got, want)
	}
	wantOK(t, skiffAt(f, "logs", "--since", "2026-01-01T00:00:00Z", "f00d"))
	if got := f.last(t).uri; got != "/v1/tasks/f00d/logs?since=2026-01-01T00%3A00%3A00Z" {
		t.Errorf("request %q", got)
	}
}

func TestLogsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tail", "-2", "f00d"}, `skiff: --tail "-2": expected a number of lines (0 or more) or all` + "\n"},
		{[]string{"--since", "yesterday", "f00d"}, `skiff: --since "yesterday": expected a duration such as 10m or 1h30m, or an RFC 3339 time such as 2026-01-02T15:04:05Z` + "\n"},
		{[]string{"--service", "web", "f00d"}, "skiff: logs takes either a TASK or --service, not both\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := newFakeAPI(t, nil)
			r := skiffAt(f, append([]string{"logs"}, tc.args...)...)
			if r.code != 1 || r.stderr != tc.want {
				t.Errorf("exit code %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
			}
			if got := f.got(); len(got) != 0 {
				t.Errorf("sent %q", got)
			}
		})
	}
}

// serviceTasks are two running tasks of web and a pending one, whose log
// is not asked for.
const serviceTasks = `[
  {"id":"f00dfeed-1111-4111-8111-111111111111","service":"web","desiredStatus":"RUNNING","lastStatus":"RUNNING"},
  {"id":"deadbeef-2222-4222-8222-222222222222","service":"web","desiredStatus":"RUNNING","lastStatus":"RUNNING"},
  {"id":"c0ffee00-3333-4333-8333-333333333333","service":"web","desiredStatus":"RUNNING","lastStatus":"PENDING"}
]`

// TestServiceLogs merges the logs of a service's running tasks in the order
// of their timestamps, each line prefixed by its task.
func TestServiceLogs(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"GET /v1/tasks": ok(serviceTasks),
		"GET /v1/tasks/f00dfeed-1111-4111-8111-111111111111/logs": ok("2026-01-02T03:00:01.000000000Z one\n2026-01-02T03:00:03.000000000Z three\n"),
		"GET /v1/tasks/deadbeef-2222-4222-8222-222222222222/logs": ok("2026-01-02T03:00:02.000000000Z two\n2026-01-02T03:00:04.000000000Z four"),
	})
	r := skiffAt(f, "logs", "--service", "web", "--timestamps", "--container", "app")
	wantOK(t, r)
	want := "11111111 | 2026-01-02T03:00:01.000000000Z one\n22222222 | 2026-01-02T03:00:02.000000000Z two\n" +
		"11111111 | 2026-01-02T03:00:03.000000000Z three\n22222222 | 2026-01-02T03:00:04.000000000Z four\n"
	if r.stdout != want {
		t.Errorf("stdout\n%s\nwant\n%s", r.stdout, want)
	}
	got := f.got()
	slices.Sort(got)
	wantReqs := []string{
		"GET /v1/tasks/deadbeef-2222-4222-8222-222222222222/logs?container=app&timestamps=1",
		"GET /v1/tasks/f00dfeed-1111-4111-8111-111111111111/logs?container=app&timestamps=1",
		"GET /v1/tasks?service=web",
	}
	if !slices.Equal(got, wantReqs) {
		t.Errorf("requests %q\nwant %q", got, wantReqs)
	}
}

// TestServiceLogsFollowed prints each task's lines as they come, prefixed
// by the task, and reports a task whose log cannot be read.
func TestServiceLogsFollowed(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{
		"GET /v1/tasks": ok(serviceTasks),
		"GET /v1/tasks/f00dfeed-1111-4111-8111-111111111111/logs": ok("a\nb\n"),
		"GET /v1/tasks/deadbeef-2222-4222-8222-222222222222/logs": {503, `{"error":"no node running the task is known yet; try again shortly"}`},
	})
	r := skiffAt(f, "logs", "--service", "web", "-f")
	if r.code != 1 || r.stdout != "11111111 | a\n11111111 | b\n" || r.stderr != "skiff: logs of task 22222222: no node running the task is known yet; try again shortly\n" {
		t.Errorf("exit code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestServiceLogsNoTask(t *testing.T) {
	f := newFakeAPI(t, map[string]answer{"GET /v1/tasks": ok(`[]`)})
	r := skiffAt(f, "logs", "--service", "web")
	if r.code != 1 || r.stderr != "skiff: service web has no running task\n" {
		t.Errorf("exit code %d, stderr %q", r.code, r.stderr)
	}
}
