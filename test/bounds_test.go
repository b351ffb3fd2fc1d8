package test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/runtime"
	"github.com/skiff-run/skiff/structs"
)

// TestContainerBounds applies a service whose containers give their
// bounds, or leave them out, and inspects what the engine runs: the memory
// limit and reservation (the default reservation where the definition
// gives neither), the PID limit and rotated logs.
func TestContainerBounds(t *testing.T) {
	d := startDockerAgent(t)
	ctx := context.Background()
	file := fmt.Sprintf(`{"service":"bounded","desiredCount":1,"taskDefinition":{"family":"bounded","containerDefinitions":[
	  {"name":"app","image":%[1]q,"command":["/testapp","serve"],"memory":64,"memoryReservation":32,"pidsLimit":200,
	   "logConfiguration":{"logDriver":"json-file","options":{"max-size":"1m"}}},
	  {"name":"side","image":%[1]q,"command":["/testapp","serve","-addr",":8081"],"essential":false}]}}`, testImage)
	if _, err := d.c.ApplyService(ctx, "bounded", []byte(file)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		n := len(d.running("bounded"))
		return n == 1, fmt.Sprintf("%d tasks running", n)
	})
	want := map[string]struct {
		memory, reservation, pids int64
		maxSize                   string
	}{
		"app":  {64 << 20, 32 << 20, 200, "1m"},
		"side": {0, structs.DefaultMemoryReservationMiB << 20, structs.DefaultPidsLimit, structs.DefaultLogMaxSize},
	}
	for _, c := range d.containers("running") {
		w, ok := want[c.Labels[runtime.LabelContainer]]
		if !ok {
			t.Fatalf("unexpected container %v", c.Names)
		}
		info, err := d.cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		hc := info.HostConfig
		if hc.Memory != w.memory || hc.MemoryReservation != w.reservation || hc.PidsLimit == nil || *hc.PidsLimit != w.pids {
			t.Errorf("%v: memory %d, reservation %d, pids limit %v; want %d, %d, %d", c.Names, hc.Memory, hc.MemoryReservation, hc.PidsLimit,
				w.memory, w.reservation, w.pids)
		}
		if lc := hc.LogConfig; lc.Type != "json-file" || lc.Config["max-size"] != w.maxSize || lc.Config["max-file"] != structs.DefaultLogMaxFile {
			t.Errorf("%v: log config %+v", c.Names, lc)
		}
	}
	// The scheduler counted the reservations: 32 MiB and the default.
	ts := d.running("bounded")
	if len(ts) != 1 || ts[0].MemoryMiB != 32+structs.DefaultMemoryReservationMiB {
		t.Fatalf("task memory: %+v", ts)
	}
}

// TestNoNetworkLeaks runs two crash-looping services of two containers
// each, one whose essential container exits soon after it started and one
// whose start fails on a dependency, and checks that no stopped task keeps
// a network: each try used to leak one until the engine's address pools
// ran out.
func TestNoNetworkLeaks(t *testing.T) {
	d := startDockerAgent(t)
	ctx := context.Background()
	services := map[string]string{
		"exits": `{"name":"app","image":%[1]q,"command":["/testapp","serve","-exit-after","300ms","-exit-code","1"]},
		  {"name":"side","image":%[1]q,"command":["/testapp","serve","-addr",":8081"],"essential":false}`,
		"fails": `{"name":"db","image":%[1]q,"command":["/testapp","serve","-exit-after","100ms","-exit-code","3"],"essential":false,
		   "healthCheck":{"command":["CMD","/testapp","probe"],"interval":5,"retries":3}},
		  {"name":"web","image":%[1]q,"dependsOn":[{"containerName":"db","condition":"HEALTHY"}]}`,
	}
	for name, containers := range services {
		file := fmt.Sprintf(`{"service":%[1]q,"desiredCount":1,"restartPolicy":{"maxBackoffSeconds":1},
		  "taskDefinition":{"family":%[1]q,"containerDefinitions":[%[2]s]}}`, name, fmt.Sprintf(containers, testImage))
		if _, err := d.c.ApplyService(ctx, name, []byte(file)); err != nil {
			t.Fatal(err)
		}
	}
	// stopped returns the ids of a service's stopped tasks.
	stopped := func(service string) map[string]bool {
		ts, err := d.c.Tasks(ctx, service, true)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, task := range ts {
			if task.LastStatus == structs.StatusStopped {
				out[task.ID] = true
			}
		}
		return out
	}
	testutil.Eventually(t, 90*time.Second, func() (bool, string) {
		e, f := len(stopped("exits")), len(stopped("fails"))
		return e >= 3 && f >= 3, fmt.Sprintf("stopped tasks: exits %d, fails %d", e, f)
	})
	// While the services go on failing, no stopped task holds a network;
	// only a try under way may.
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		nets, err := d.cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", runtime.LabelNode+"="+d.a.ID()))})
		if err != nil {
			t.Fatal(err)
		}
		done := stopped("exits")
		for id := range stopped("fails") {
			done[id] = true
		}
		var leaked []string
		for _, n := range nets {
			if done[n.Labels[runtime.LabelTask]] {
				leaked = append(leaked, n.Name)
			}
		}
		return len(leaked) == 0 && len(nets) <= 2, fmt.Sprintf("%d networks, of stopped tasks: %v", len(nets), leaked)
	})
}
