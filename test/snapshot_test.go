package test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/command"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
)

// TestClusterSnapshotRestore saves a cluster's state through a follower,
// changes the cluster, and restores the file onto the running cluster:
// every replica comes back with the saved services, task definitions and
// secrets, and loses what came after. A damaged file changes nothing.
func TestClusterSnapshotRestore(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	ctx := context.Background()
	runService(t, c, "web", 2)
	cl := c.Leader().Client()
	if _, err := cl.SetSecret(ctx, "db-password", []byte("hunter2")); err != nil {
		t.Fatal(err)
	}
	var follower *testcluster.Member
	for _, m := range c.Members {
		if m != c.Leader() {
			follower = m
			break
		}
	}
	var saved bytes.Buffer
	if err := follower.Client().SaveSnapshot(ctx, &saved); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteService(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteSecret(ctx, "db-password"); err != nil {
		t.Fatal(err)
	}
	runService(t, c, "api", 1)

	if !bytes.Contains(saved.Bytes(), []byte(`"name":"web"`)) {
		t.Fatalf("the saved file does not hold service web: %.300s", saved.Bytes())
	}
	damaged := bytes.Replace(saved.Bytes(), []byte(`"name":"web"`), []byte(`"name":"wex"`), 1)
	if _, err := cl.RestoreSnapshot(ctx, damaged); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("restore of a damaged file: %v, want a refusal saying it is damaged", err)
	}
	if svcs, _ := cl.Services(ctx); len(svcs) != 1 || svcs[0].Name != "api" {
		t.Fatalf("services after a refused restore %+v: want api alone, as before", svcs)
	}

	if _, err := follower.Client().RestoreSnapshot(ctx, saved.Bytes()); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Members {
		testutil.Eventually(t, 20*time.Second, func() (bool, string) {
			st := m.Agent().State()
			var names []string
			for _, s := range st.Services() {
				names = append(names, s.Name)
			}
			sec := st.Secret("db-password")
			ok := slices.Equal(names, []string{"web"}) && st.LatestTaskDefinition("web") != nil && st.LatestTaskDefinition("api") == nil && sec != nil
			return ok, fmt.Sprintf("%s: services %v, secret %v: want web alone, its definition, and the secret", m.Name, names, sec != nil)
		})
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		n := len(serviceRunning(c, "web"))
		return n == 2, fmt.Sprintf("%d of web's 2 tasks running after the restore", n)
	})
	c.EnsureSame(t)
	// The secret's sealed value came back too: a task that reads it gets it.
	if _, err := cl.ApplyService(ctx, "reader", []byte(`{"service":"reader","desiredCount":1,"taskDefinition":{"family":"reader",
	  "containerDefinitions":[{"name":"app","image":"img","memory":16,"secrets":[{"name":"PW","valueFrom":"db-password"}]}]}}`)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		running := serviceRunning(c, "reader")
		return len(running) == 1, fmt.Sprintf("%d reader tasks running", len(running))
	})
}

// TestClusterRestoreRefusesAnotherClustersSecrets restores a snapshot
// holding a secret onto a cluster of another join token: the secret is
// sealed under a key that cluster does not hold, so the restore is refused
// naming the secret, and the cluster's state is left as it was.
func TestClusterRestoreRefusesAnotherClustersSecrets(t *testing.T) {
	ctx := context.Background()
	a := testcluster.New(t, 1, 1)
	if _, err := a.Leader().Client().SetSecret(ctx, "db-password", []byte("hunter2")); err != nil {
		t.Fatal(err)
	}
	var saved bytes.Buffer
	if err := a.Leader().Client().SaveSnapshot(ctx, &saved); err != nil {
		t.Fatal(err)
	}
	b := testcluster.New(t, 1, 1)
	runService(t, b, "api", 1)
	_, err := b.Leader().Client().RestoreSnapshot(ctx, saved.Bytes())
	if err == nil || !strings.Contains(err.Error(), "snapshot.secrets") || !strings.Contains(err.Error(), "db-password") || !strings.Contains(err.Error(), "join token") {
		t.Fatalf("restore of another cluster's secrets: %v, want a refusal naming snapshot.secrets, the secret and the join token", err)
	}
	st := b.Leader().Agent().State()
	if st.Service("api") == nil || st.Secret("db-password") != nil {
		t.Errorf("after a refused restore: service api %v, secret %v; want the cluster's own state, unchanged", st.Service("api") != nil, st.Secret("db-password") != nil)
	}
	if _, err := a.Leader().Client().RestoreSnapshot(ctx, saved.Bytes()); err != nil {
		t.Errorf("restore onto the cluster that saved it: %v", err)
	}
}

// TestClusterOperatorRecover loses two of three voters for good: the
// survivor, stopped and recovered, starts as a one-voter cluster that
// takes writes and still holds its state.
func TestClusterOperatorRecover(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	ctx := context.Background()
	runService(t, c, "web", 1)
	survivor := c.Members[0]
	for _, m := range c.Members[1:] {
		c.Kill(m)
	}
	c.Kill(survivor)
	id, servers, err := agent.StoppedRaft(survivor.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 3 {
		t.Fatalf("configuration %+v: want the three voters", servers)
	}
	var out, errs bytes.Buffer
	if code := command.Run([]string{"skiff", "operator", "recover", "--data-dir", survivor.Dir, "--yes"}, &out, &errs); code != 0 {
		t.Fatalf("operator recover: exit %d: %s%s", code, out.String(), errs.String())
	}
	if strings.Count(out.String(), ": removed") != 2 || !strings.Contains(out.String(), "voter "+id+" at ") || strings.Count(out.String(), "kept as a voter") != 1 {
		t.Errorf("operator recover said:\n%s\nwant the servers and what becomes of each", out.String())
	}
	if !strings.Contains(out.String(), "recovered: 1 voter(s)") {
		t.Errorf("operator recover said:\n%s\nwant one voter kept", out.String())
	}
	c.Restart(survivor)
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		return survivor.Agent().IsLeader(), "the survivor does not lead"
	})
	peers, err := survivor.Client().RaftPeers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 1 || peers[0].ID != id || !peers[0].Voter {
		t.Errorf("peers %+v: want the survivor alone, a voter", peers)
	}
	if survivor.Agent().State().Service("web") == nil {
		t.Error("the survivor lost the service it held")
	}
	if _, err := survivor.Client().ApplyService(ctx, "after", svcFile("after", 0, "img")); err != nil {
		t.Fatalf("a write to the recovered cluster: %v", err)
	}
}
