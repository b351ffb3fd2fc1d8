package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

// optionsFile is a service file whose task gives the task-level fields
// task, and whose containers are containers.
func optionsFile(task, containers string) string {
	if task != "" {
		task += ","
	}
	return `{"service":"web","desiredCount":1,"taskDefinition":{"family":"web",` + task + `"containerDefinitions":[` + containers + `]}}`
}

// Every container option decodes into the definition, with no warning
// that it is ignored.
func TestDecodeContainerOptions(t *testing.T) {
	raw := optionsFile(`"networkMode":"bridge","pidMode":"task","ipcMode":"task","cpu":"1 vCPU","memory":"1GB"`, `{
	  "name":"app","image":"x","cpu":512,"memory":256,"hostname":"app-1.internal",
	  "dnsServers":["10.0.0.2","fd00::53"],"dnsSearchDomains":["example.com"],"extraHosts":[{"hostname":"db","ipAddress":"10.0.0.5"}],
	  "ulimits":[{"name":"nofile","softLimit":1024,"hardLimit":4096},{"name":"memlock","softLimit":-1,"hardLimit":-1}],
	  "readonlyRootFilesystem":true,"dockerSecurityOptions":["no-new-privileges","apparmor:docker-default","label:type:svirt_t"],
	  "systemControls":[{"namespace":"net.core.somaxconn","value":"1024"},{"namespace":"kernel.shmmax","value":"68719476736"}],
	  "interactive":true,"pseudoTerminal":true,"startTimeout":30,"dependsOn":[],
	  "linuxParameters":{"capabilities":{"add":["NET_BIND_SERVICE"],"drop":["ALL"]},"initProcessEnabled":true,"sharedMemorySize":128,
	    "tmpfs":[{"containerPath":"/run","size":64,"mountOptions":["noexec","mode=1777"]}],"maxSwap":512,"swappiness":10}
	},{"name":"side","image":"y","disableNetworking":true,"dependsOn":[{"containerName":"app","condition":"START"}]}`)
	_, td, warnings, err := DecodeServiceFile([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings: %v", warnings)
	}
	c := td.ContainerDefinitions[0]
	lp := c.LinuxParameters
	if td.NetworkMode != "bridge" || td.PidMode != "task" || td.IpcMode != "task" || td.CPU() != 1024 || td.MemoryMiB() != 1024 ||
		c.Hostname != "app-1.internal" || len(c.DNSServers) != 2 || c.ExtraHosts[0].IPAddress != "10.0.0.5" ||
		c.Ulimits[1].SoftLimit != -1 || !c.ReadonlyRootFilesystem || len(c.DockerSecurityOptions) != 3 || c.SystemControls[1].Namespace != "kernel.shmmax" ||
		!c.Interactive || !c.PseudoTerminal || c.StartTimeout != 30 || lp == nil || lp.Capabilities.Drop[0] != "ALL" || !lp.InitProcessEnabled ||
		lp.SharedMemorySize != 128 || lp.Tmpfs[0].Size != 64 || *lp.MaxSwap != 512 || *lp.Swappiness != 10 ||
		!td.ContainerDefinitions[1].DisableNetworking {
		t.Fatalf("decoded %+v\n%+v", td, c)
	}
	// Host mode takes ports equal to the container's, or left out.
	raw = optionsFile(`"networkMode":"host"`, `{"name":"app","image":"x","portMappings":[{"containerPort":80,"hostPort":80},{"containerPort":81}]}`)
	if _, _, _, err := DecodeServiceFile([]byte(raw)); err != nil {
		t.Fatalf("host mode: %v", err)
	}
	// swappiness without maxSwap is ignored, as ECS ignores it, and says so.
	raw = optionsFile("", `{"name":"app","image":"x","linuxParameters":{"swappiness":10}}`)
	if _, _, warnings, err := DecodeServiceFile([]byte(raw)); err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "swappiness is ignored without maxSwap") {
		t.Fatalf("swappiness alone: %v %v", warnings, err)
	}
	// Task-level sizes may be numbers too.
	raw = optionsFile(`"cpu":256,"memory":512`, `{"name":"app","image":"x"}`)
	if _, td, _, err := DecodeServiceFile([]byte(raw)); err != nil || td.CPU() != 256 || td.MemoryMiB() != 512 {
		t.Fatalf("numeric sizes: %+v %v", td, err)
	}
}

func TestDecodeBadContainerOptions(t *testing.T) {
	c := func(fields string) string {
		return optionsFile("", `{"name":"a","image":"x",`+fields+`}`)
	}
	task := func(fields, container string) string {
		return optionsFile(fields, `{"name":"a","image":"x"`+container+`}`)
	}
	const f = "taskDefinition.containerDefinitions[0]."
	cases := []struct{ name, body, field, msg string }{
		{"awsvpc", task(`"networkMode":"awsvpc"`, ""), "taskDefinition.networkMode", "only ECS provides"},
		{"network mode", task(`"networkMode":"nat"`, ""), "taskDefinition.networkMode", "expected bridge, host or none"},
		{"pid mode", task(`"pidMode":"container"`, ""), "taskDefinition.pidMode", "expected task or host"},
		{"ipc mode", task(`"ipcMode":"shareable"`, ""), "taskDefinition.ipcMode", "expected task, host or none"},
		{"task cpu", task(`"cpu":"1 potato"`, ""), "taskDefinition.cpu", "vCPUs"},
		{"task cpu type", task(`"cpu":true`, ""), "taskDefinition.cpu", `expected a number or a string such as "512"`},
		{"task cpu range", task(`"cpu":"128 vCPU"`, ""), "taskDefinition.cpu", "out of range"},
		{"task memory", task(`"memory":"1TB"`, ""), "taskDefinition.memory", "GB"},
		{"task memory range", task(`"memory":"2"`, ""), "taskDefinition.memory", "out of range"},
		{"containers over task cpu", task(`"cpu":"256"`, `,"cpu":512`), "taskDefinition.cpu", "less than the containers' cpu together (512)"},
		{"container over task memory", task(`"memory":"256"`, `,"memory":512`), f + "memory", "more than the task's memory"},
		{"reservations over task memory", optionsFile(`"memory":"256"`, `{"name":"a","image":"x","memoryReservation":200},{"name":"b","image":"x","memoryReservation":100}`),
			"taskDefinition.memory", "less than the containers reserve together (300 MiB)"},
		{"hostname", c(`"hostname":"-bad"`), f + "hostname", "expected a host name"},
		{"hostname in host mode", task(`"networkMode":"host"`, `,"hostname":"a"`), f + "hostname", "the host's name"},
		{"dns server", c(`"dnsServers":["ns1"]`), f + "dnsServers[0]", "expected an IP address"},
		{"dns search domain", c(`"dnsSearchDomains":["a b"]`), f + "dnsSearchDomains[0]", "expected a domain name"},
		{"extra host address", c(`"extraHosts":[{"hostname":"db","ipAddress":"db"}]`), f + "extraHosts[0].ipAddress", "expected an IP address"},
		{"extra host typo", c(`"extraHosts":[{"host":"db"}]`), f + "extraHosts[0].host", "unknown field"},
		{"ulimit name", c(`"ulimits":[{"name":"files","softLimit":1,"hardLimit":1}]`), f + "ulimits[0].name", "nofile"},
		{"ulimit twice", c(`"ulimits":[{"name":"nofile","softLimit":1,"hardLimit":1},{"name":"nofile","softLimit":1,"hardLimit":1}]`), f + "ulimits[1].name", "twice"},
		{"ulimit soft over hard", c(`"ulimits":[{"name":"nofile","softLimit":10,"hardLimit":1}]`), f + "ulimits[0].softLimit", "more than hardLimit"},
		{"ulimit negative", c(`"ulimits":[{"name":"nofile","softLimit":-2,"hardLimit":1}]`), f + "ulimits[0].softLimit", "out of range"},
		{"security option", c(`"dockerSecurityOptions":["seccomp=/etc/profile.json"]`), f + "dockerSecurityOptions[0]", "seccomp:unconfined"},
		{"credential spec", c(`"dockerSecurityOptions":["credentialspec:file://x.json"]`), f + "dockerSecurityOptions[0]", "Windows"},
		{"sysctl namespace", c(`"systemControls":[{"namespace":"vm.swappiness","value":"1"}]`), f + "systemControls[0].namespace", "namespaced kernel parameter"},
		{"net sysctl in host mode", task(`"networkMode":"host"`, `,"systemControls":[{"namespace":"net.core.somaxconn","value":"1"}]`), f + "systemControls[0].namespace", "host's own"},
		{"sysctl value", c(`"systemControls":[{"namespace":"net.core.somaxconn"}]`), f + "systemControls[0].value", "required"},
		{"start timeout", c(`"startTimeout":1`), f + "startTimeout", "out of range"},
		{"host mode port", task(`"networkMode":"host"`, `,"portMappings":[{"containerPort":80,"hostPort":8080}]`), f + "portMappings[0].hostPort", "must equal containerPort (80)"},
		{"host mode port twice", optionsFile(`"networkMode":"host"`, `{"name":"a","image":"x","portMappings":[{"containerPort":80}]},{"name":"b","image":"x","portMappings":[{"containerPort":80}]}`),
			"taskDefinition.containerDefinitions[1].portMappings[0].containerPort", "takes it already"},
		{"ports without a network", task(`"networkMode":"none"`, `,"portMappings":[{"containerPort":80}]`), f + "portMappings[0]", "no network"},
		{"ports with networking disabled", c(`"disableNetworking":true,"portMappings":[{"containerPort":80}]`), f + "portMappings[0]", "disableNetworking"},
		{"links in host mode", optionsFile(`"networkMode":"host"`, `{"name":"a","image":"x","links":["b"]},{"name":"b","image":"x"}`), f + "links", "need networkMode bridge"},
		{"linux parameters typo", c(`"linuxParameters":{"initProcess":true}`), f + "linuxParameters.initProcess", "unknown field"},
		{"capability typo", c(`"linuxParameters":{"capabilities":{"adds":["NET_ADMIN"]}}`), f + "linuxParameters.capabilities.adds", "unknown field"},
		{"capability name", c(`"linuxParameters":{"capabilities":{"drop":["NET_ADMIN","CAP_FLY"]}}`), f + "linuxParameters.capabilities.drop[1]", "expected a Linux capability"},
		{"device path", c(`"linuxParameters":{"devices":[{"hostPath":"dev/fuse"}]}`), f + "linuxParameters.devices[0].hostPath", "clean absolute path"},
		{"device container path", c(`"linuxParameters":{"devices":[{"hostPath":"/dev/fuse","containerPath":"/dev/../fuse"}]}`), f + "linuxParameters.devices[0].containerPath", "clean absolute path"},
		{"device permission", c(`"linuxParameters":{"devices":[{"hostPath":"/dev/fuse","permissions":["read","exec"]}]}`), f + "linuxParameters.devices[0].permissions[1]", "read, write or mknod"},
		{"shared memory", c(`"linuxParameters":{"sharedMemorySize":-1}`), f + "linuxParameters.sharedMemorySize", "out of range"},
		{"shared memory in host ipc", task(`"ipcMode":"host"`, `,"linuxParameters":{"sharedMemorySize":64}`), f + "linuxParameters.sharedMemorySize", "host's /dev/shm"},
		{"shared memory of a joiner", optionsFile(`"ipcMode":"task"`, `{"name":"a","image":"x"},{"name":"b","image":"x","linuxParameters":{"sharedMemorySize":64}}`),
			"taskDefinition.containerDefinitions[1].linuxParameters.sharedMemorySize", "give sharedMemorySize there"},
		{"namespace holder that exits", optionsFile(`"pidMode":"task"`, `{"name":"init","image":"x","essential":false},{"name":"b","image":"x","dependsOn":[{"containerName":"init","condition":"SUCCESS"}]}`),
			"taskDefinition.containerDefinitions[1].dependsOn[0].condition", "must keep running"},
		{"tmpfs path", c(`"linuxParameters":{"tmpfs":[{"containerPath":"run","size":1}]}`), f + "linuxParameters.tmpfs[0].containerPath", "clean absolute path"},
		{"tmpfs size", c(`"linuxParameters":{"tmpfs":[{"containerPath":"/run","size":0}]}`), f + "linuxParameters.tmpfs[0].size", "out of range"},
		{"tmpfs twice", c(`"linuxParameters":{"tmpfs":[{"containerPath":"/run","size":1},{"containerPath":"/run","size":1}]}`), f + "linuxParameters.tmpfs[1].containerPath", "two tmpfs"},
		{"tmpfs option", c(`"linuxParameters":{"tmpfs":[{"containerPath":"/run","size":1,"mountOptions":["size=1g"]}]}`), f + "linuxParameters.tmpfs[0].mountOptions[0]", "tmpfs mount option"},
		{"max swap", c(`"memory":64,"linuxParameters":{"maxSwap":-1}`), f + "linuxParameters.maxSwap", "out of range"},
		{"max swap without memory", c(`"linuxParameters":{"maxSwap":64}`), f + "linuxParameters.maxSwap", "give the container memory"},
		{"swappiness", c(`"memory":64,"linuxParameters":{"maxSwap":0,"swappiness":101}`), f + "linuxParameters.swappiness", "out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := DecodeServiceFile([]byte(tc.body))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want a FieldError, got %v", err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Message, tc.msg) {
				t.Fatalf("got %q: %q; want %q containing %q", fe.Field, fe.Message, tc.field, tc.msg)
			}
		})
	}
}

// A definition registered as ECS describes it keeps its task-level sizes
// as their text, and reads them in ECS's units.
func TestDecodeTaskSizesOfDescribedDefinition(t *testing.T) {
	td, _, err := DecodeTaskDefinition([]byte(`{"family":"web","cpu":"0.5 vCPU","memory":"2 GB","containerDefinitions":[{"name":"a","image":"x"}]}`))
	if err != nil || td.TaskCPU != "0.5 vCPU" || td.CPU() != 512 || td.MemoryMiB() != 2048 {
		t.Fatalf("%+v %v", td, err)
	}
	if td.ContainerDefinitions[0].ReservedMemoryMiB() != structs.DefaultMemoryReservationMiB {
		t.Fatal("a container's own reservation changed")
	}
}
