package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/api"
	"github.com/skiff-run/skiff/internal/testutil"
	"github.com/skiff-run/skiff/structs"
)

// TestLogDrivers runs one task whose containers log through three Docker
// drivers: local, which the engine reads back; gelf, sent over UDP to a
// port nobody listens on, which the engine reads back from the copy its
// dual logging keeps; and none. `skiff logs` shows the first two and says
// plainly why the third has nothing to show.
func TestLogDrivers(t *testing.T) {
	d := startDockerAgent(t)
	ctx := context.Background()
	def := fmt.Sprintf(`{"family": "drivers", "containerDefinitions": [
	  {"name": "kept", "image": %[1]q, "memory": 16, "command": ["/testapp", "serve"],
	   "logConfiguration": {"logDriver": "local", "options": {"max-size": "1m"}}},
	  {"name": "sent", "image": %[1]q, "memory": 16, "essential": false, "command": ["/testapp", "serve", "-addr", ":8081"],
	   "logConfiguration": {"logDriver": "gelf", "options": {"gelf-address": "udp://127.0.0.1:12201"}}},
	  {"name": "silent", "image": %[1]q, "memory": 16, "essential": false, "command": ["/testapp", "serve", "-addr", ":8082"],
	   "logConfiguration": {"logDriver": "none"}}
	]}`, testImage)
	res, err := d.c.Run(ctx, []byte(def), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tasks) != 1 {
		t.Fatalf("run: %+v", res)
	}
	id := res.Tasks[0].ID
	testutil.Eventually(t, 60*time.Second, func() (bool, string) {
		got, err := d.c.Task(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		return got.LastStatus == structs.StatusRunning, got.LastStatus + " " + got.StopReason
	})
	for _, name := range []string{"kept", "sent"} {
		testutil.Eventually(t, 10*time.Second, func() (bool, string) {
			var logs bytes.Buffer
			err := d.c.Logs(ctx, id, name, false, &logs)
			return err == nil && strings.Contains(logs.String(), "listening"), fmt.Sprintf("%s logs: %q %v", name, logs.String(), err)
		})
	}
	var logs bytes.Buffer
	err = d.c.Logs(ctx, id, "silent", false, &logs)
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || !strings.Contains(apiErr.Message, "logs to the none driver, which keeps nothing to read") {
		t.Fatalf("logs of a container without logs: %v", err)
	}
	if _, err := d.c.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
}
