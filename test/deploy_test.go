package test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// A leader killed in the middle of a rolling deployment leaves the
// deployment in the replicated state, and the next leader finishes that
// same deployment rather than starting another.
func TestClusterNewLeaderFinishesDeployment(t *testing.T) {
	c := testcluster.New(t, 3, 3)
	runService(t, c, "web", 3)
	ctx := context.Background()
	if _, err := c.Leader().Client().ApplyService(ctx, "web", svcFile("web", 3, "img:2")); err != nil {
		t.Fatal(err)
	}
	var id string
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		ds := c.Leader().Agent().State().Service("web").Deployments
		if len(ds) == 0 || ds[len(ds)-1].State != structs.DeploymentInProgress {
			return false, fmt.Sprintf("deployments %+v", ds)
		}
		id = ds[len(ds)-1].ID
		return true, ""
	})
	old := c.Leader()
	c.Kill(old)
	var last *testcluster.Member
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		last = c.Leader()
		if last == nil || last == old {
			return false, "no new leader"
		}
		svc := last.Agent().State().Service("web")
		ds := svc.Deployments
		if len(ds) == 0 {
			return false, "no deployment"
		}
		d := ds[len(ds)-1]
		running := 0
		for _, task := range serviceRunning(c, "web") {
			if task.TaskDefinition == "web:2" {
				running++
			}
		}
		return d.State == structs.DeploymentCompleted && running == 3, fmt.Sprintf("deployment %+v, %d of web:2 running", d, running)
	})
	ds := last.Agent().State().Service("web").Deployments
	if len(ds) != 1 || ds[0].ID != id || ds[0].From != "web:1" || ds[0].To != "web:2" {
		t.Errorf("deployments %+v: want the one deployment %s the old leader started, web:1 to web:2", ds, id)
	}
}
