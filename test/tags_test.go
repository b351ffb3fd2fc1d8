package test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testcluster"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestTagsAcrossTheCluster runs two agents with --tag labels and two
// tagged services, and lists them and their events through a follower
// with tag filters: each agent's tags reach every replica through its
// registration and the ring through gossip, a task carries its
// definition's tags and its service's, and events those of what they
// concern.
func TestTagsAcrossTheCluster(t *testing.T) {
	zones := map[string]string{"n1": "attic", "n2": "cellar"}
	c := testcluster.NewTuned(t, 2, 2, func(cfg *agent.Config) {
		cfg.Tags = []structs.Tag{{Key: "room", Value: zones[cfg.Name]}, {Key: "owner", Value: "sam"}}
	})
	var follower *testcluster.Member
	for _, m := range c.Members {
		if m != c.Leader() {
			follower = m
		}
	}
	cl := follower.Client()
	ctx := context.Background()
	files := map[string]string{
		"web": `{"service":"web","desiredCount":2,"tags":[{"key":"team","value":"front"}],
		  "taskDefinition":{"family":"web","tags":[{"key":"app","value":"web"},{"key":"team","value":"platform"}],
		    "containerDefinitions":[{"name":"app","image":"img","memory":16}]}}`,
		"db": `{"service":"db","desiredCount":1,"tags":[{"key":"team","value":"data"}],
		  "taskDefinition":{"family":"db","containerDefinitions":[{"name":"app","image":"img","memory":16}]}}`,
	}
	for name, file := range files {
		if _, err := cl.ApplyService(ctx, name, []byte(file)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		web, db := len(serviceRunning(c, "web")), len(serviceRunning(c, "db"))
		return web == 2 && db == 1, fmt.Sprintf("web %d of 2, db %d of 1 running", web, db)
	})

	names := func(nodes []*structs.Node) []string {
		var out []string
		for _, n := range nodes {
			out = append(out, n.Name)
		}
		slices.Sort(out)
		return out
	}
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		nodes, err := cl.Nodes(ctx, "room=cellar")
		if err != nil {
			return false, err.Error()
		}
		return slices.Equal(names(nodes), []string{"n2"}), fmt.Sprintf("room=cellar lists %v", names(nodes))
	})
	for filters, want := range map[string][]string{"owner=sam": {"n1", "n2"}, "owner": {"n1", "n2"}, "room=attic owner=sam": {"n1"}, "room=attic room=cellar": nil} {
		nodes, err := cl.Nodes(ctx, strings.Fields(filters)...)
		if err != nil || !slices.Equal(names(nodes), want) {
			t.Errorf("nodes with %s: %v (%v), want %v", filters, names(nodes), err, want)
		}
	}

	svcs, err := cl.Services(ctx, "team=data")
	if err != nil || len(svcs) != 1 || svcs[0].Name != "db" || !slices.Equal(svcs[0].Tags, []structs.Tag{{Key: "team", Value: "data"}}) {
		t.Fatalf("services with team=data: %+v %v", svcs, err)
	}
	for filters, want := range map[string]map[string]int{
		"app=web":            {"web": 2},
		"team=front":         {"web": 2},
		"team=platform":      {},
		"team=data":          {"db": 1},
		"team":               {"web": 2, "db": 1},
		"app=web team=front": {"web": 2},
	} {
		tasks, err := cl.Tasks(ctx, "", false, strings.Fields(filters)...)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, task := range tasks {
			got[task.Service]++
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("tasks with %s: %v, want %v", filters, got, want)
		}
	}

	// Events carry the tags of what they concern, as every replica
	// recorded them.
	placed, err := cl.Events(ctx, api.EventsQuery{Tags: []string{"team=front"}, Topics: []string{"kind:" + structs.EventTaskPlaced}})
	if err != nil || len(placed.Events) != 2 || placed.Events[0].Service != "web" || placed.Events[1].Service != "web" {
		t.Fatalf("task.placed events tagged team=front: %+v %v: want web's two", placed.Events, err)
	}
	cellar, err := cl.Events(ctx, api.EventsQuery{Tags: []string{"room=cellar"}, Topics: []string{"kind:" + structs.EventNodeRegistered}})
	if err != nil || len(cellar.Events) == 0 {
		t.Fatalf("node.registered events tagged room=cellar: %+v %v", cellar.Events, err)
	}
	for _, e := range cellar.Events {
		if st := follower.Agent().State(); st.Node(e.Node) == nil || st.Node(e.Node).Name != "n2" {
			t.Errorf("an event tagged room=cellar of node %s, not n2's", e.Node)
		}
	}

	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		members, err := cl.Members(ctx)
		if err != nil {
			return false, err.Error()
		}
		seen := map[string]string{}
		for _, m := range members {
			seen[m.Name] = m.Tags["room"]
		}
		return seen["n1"] == "attic" && seen["n2"] == "cellar", fmt.Sprintf("gossip carries rooms %v", seen)
	})
}
