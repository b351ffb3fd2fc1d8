package test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// BenchmarkExec measures one exec of a command that prints a line and
// exits, with the fake engine of an in-process three-agent cluster, asked
// of the task's own agent (local) and of another (forwarded over the
// agents' mutual TLS): the cost of skiff's path, WebSocket handshake
// included, without an engine's.
//
//	go test -run '^$' -bench Exec -benchtime 200x ./test
func BenchmarkExec(b *testing.B) {
	c := testcluster.New(b, 3, 3)
	ctx := context.Background()
	res, err := c.Members[0].Client().Run(ctx, []byte(`{"family":"bench","containerDefinitions":[{"name":"main","image":"img","memory":16}]}`), 1)
	if err != nil || len(res.Tasks) != 1 {
		b.Fatalf("run: %+v %v", res, err)
	}
	id := res.Tasks[0].ID
	var node string
	testutil.Eventually(b, 20*time.Second, func() (bool, string) {
		tk, err := c.Members[0].Client().Task(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		node = tk.Node
		return tk.LastStatus == structs.StatusRunning, tk.LastStatus
	})
	var local, remote *testcluster.Member
	for _, m := range c.Members {
		if m.Agent().ID() == node {
			local = m
		} else {
			remote = m
		}
	}
	for _, bc := range []struct {
		name string
		m    *testcluster.Member
	}{{"local", local}, {"forwarded", remote}} {
		b.Run(bc.name, func(b *testing.B) {
			cl := bc.m.Client()
			req := api.ExecRequest{Cmd: []string{"echo", "hi"}}
			for b.Loop() {
				code, err := cl.Exec(ctx, id, req, api.ExecIO{Stdout: io.Discard, Stderr: io.Discard})
				if err != nil || code != 0 {
					b.Fatalf("code %d, err %v", code, err)
				}
			}
		})
	}
}
