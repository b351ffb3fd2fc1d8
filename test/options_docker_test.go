package test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-run/skiff/agent"
	"github.com/skiff-run/skiff/internal/testutil"
)

// containerLogs waits until the named container of a task has logged
// every one of want, and returns what it logged.
func containerLogs(t *testing.T, d *dockerAgent, taskID, name string, want ...string) string {
	t.Helper()
	var out string
	testutil.Eventually(t, 30*time.Second, func() (bool, string) {
		var b bytes.Buffer
		err := d.c.Logs(context.Background(), taskID, name, false, &b)
		out = b.String()
		for _, w := range want {
			if !strings.Contains(out, w) {
				return false, fmt.Sprintf("%s logs %q (%v), want %q", name, out, err, w)
			}
		}
		return true, ""
	})
	return out
}

// optionsService is a service whose task's containers each print what
// they see of one option: its host name, its capabilities with NET_RAW
// dropped, /dev with /dev/null mapped to /dev/skiff-null, a write to a
// read-only root, and the processes of the PID namespace the task shares;
// misc, with the other options, prints its /etc/hosts from a terminal.
const optionsService = `{"service":"opts","desiredCount":1,"taskDefinition":{"family":"opts","pidMode":"task","ipcMode":"task","memory":"256",
  "containerDefinitions":[
    {"name":"app","image":"skiff-testapp:latest","command":["/testapp","serve"],
      "linuxParameters":{"sharedMemorySize":32,"initProcessEnabled":true}},
    {"name":"misc","image":"skiff-testapp:latest","essential":false,"memory":64,"command":["/testapp","cat","-path","/etc/hosts"],
      "extraHosts":[{"hostname":"db.internal","ipAddress":"10.9.8.7"}],"dnsServers":["10.0.0.2"],"dnsSearchDomains":["example.com"],
      "ulimits":[{"name":"nofile","softLimit":512,"hardLimit":1024}],"systemControls":[{"namespace":"net.core.somaxconn","value":"512"}],
      "dockerSecurityOptions":["no-new-privileges"],"pseudoTerminal":true,"interactive":true,"startTimeout":10,
      "linuxParameters":{"tmpfs":[{"containerPath":"/scratch","size":8,"mountOptions":["noexec"]}],"maxSwap":0,"swappiness":0},
      "dependsOn":[{"containerName":"name","condition":"SUCCESS"}]},
    {"name":"nonet","image":"skiff-testapp:latest","essential":false,"disableNetworking":true,"command":["/testapp","hostname"]},
    {"name":"name","image":"skiff-testapp:latest","essential":false,"hostname":"opt-host","command":["/testapp","hostname"]},
    {"name":"caps","image":"skiff-testapp:latest","essential":false,"command":["/testapp","caps"],
      "linuxParameters":{"capabilities":{"drop":["NET_RAW"]}}},
    {"name":"dev","image":"skiff-testapp:latest","essential":false,"command":["/testapp","ls","-path","/dev"],
      "linuxParameters":{"devices":[{"hostPath":"/dev/null","containerPath":"/dev/skiff-null"}]}},
    {"name":"ro","image":"skiff-testapp:latest","essential":false,"readonlyRootFilesystem":true,"command":["/testapp","write","-path","/f","-text","x"]},
    {"name":"procs","image":"skiff-testapp:latest","essential":false,"command":["/testapp","procs"]}]}}`

// TestContainerOptionsOnDocker: the engine runs containers as their
// options say (a host name, a dropped capability, a mapped device, a
// read-only root, a task's shared PID namespace, the host's network), and
// a node whose agent does not allow privileged containers is not given
// one, the scheduler naming the option and the flag.
func TestContainerOptionsOnDocker(t *testing.T) {
	allow := true
	d := startTunedDockerAgent(t, func(cfg *agent.Config) { cfg.AllowPrivileged = allow })
	ctx := context.Background()
	if _, err := d.c.ApplyService(ctx, "opts", []byte(optionsService)); err != nil {
		t.Fatal(err)
	}
	task := oneRunning(t, d, "opts", "")
	containerLogs(t, d, task.ID, "name", "opt-host")
	if caps := containerLogs(t, d, task.ID, "caps", "CHOWN"); strings.Contains(caps, "NET_RAW") {
		t.Errorf("NET_RAW was dropped, yet the container has it:\n%s", caps)
	}
	containerLogs(t, d, task.ID, "dev", "skiff-null\n")
	containerLogs(t, d, task.ID, "ro", "read-only file system")
	// In the task's PID namespace the container sees app's server.
	containerLogs(t, d, task.ID, "procs", "/testapp serve", "/testapp procs")
	containerLogs(t, d, task.ID, "misc", "10.9.8.7\tdb.internal")
	containerLogs(t, d, task.ID, "nonet", "\n")

	// In host mode the server listens on the host's own port: nothing is
	// published, and the port is the task's host port.
	port := portOf(t, testutil.Addr(t))
	svc := fmt.Sprintf(`{"service":"hostnet","desiredCount":1,"taskDefinition":{"family":"hostnet","networkMode":"host",
	  "containerDefinitions":[{"name":"app","image":"skiff-testapp:latest","memory":32,"command":["/testapp","serve","-addr","127.0.0.1:%d"],
	    "portMappings":[{"containerPort":%d}]}]}}`, port, port)
	if _, err := d.c.ApplyService(ctx, "hostnet", []byte(svc)); err != nil {
		t.Fatal(err)
	}
	hostTask := oneRunning(t, d, "hostnet", "")
	if fmt.Sprint(hostTask.HostPorts) != fmt.Sprintf("[%d]", port) {
		t.Errorf("host ports %v, want [%d]", hostTask.HostPorts, port)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/health", port)
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		resp, err := http.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})

	// Without --allow-privileged the node is refused a privileged task.
	allow = false
	d.restart()
	if _, err := d.c.ApplyService(ctx, "priv", []byte(`{"service":"priv","desiredCount":1,"taskDefinition":{"family":"priv",
	  "containerDefinitions":[{"name":"app","image":"skiff-testapp:latest","memory":32,"privileged":true}]}}`)); err != nil {
		t.Fatal(err)
	}
	want := "1 node does not allow privileged containers (agent flag --allow-privileged): the task asks for privileged in container app"
	testutil.Eventually(t, 20*time.Second, func() (bool, string) {
		svcs, err := d.c.Services(ctx)
		for _, s := range svcs {
			if s.Name == "priv" {
				return strings.Contains(s.Message, want), "message: " + s.Message
			}
		}
		return false, fmt.Sprintf("no service priv: %v", err)
	})
	if ts, err := d.c.Tasks(ctx, "priv", true); err != nil || len(ts) != 0 {
		t.Errorf("tasks of priv: %+v %v", ts, err)
	}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
