package api

import (
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

const goodFile = `{
  "service": "web",
  "desiredCount": 3,
  "placementStrategy": [{"type": "spread", "field": "node"}],
  "placementConstraints": [{"type": "memberOf", "expression": "attribute:zone == a"}],
  "taskDefinition": {
    "family": "web",
    "containerDefinitions": [
      {"name": "app", "image": "skiff-testapp:latest", "command": ["/testapp", "serve"],
       "cpu": 64, "memory": 32, "essential": true,
       "portMappings": [{"containerPort": 8080, "hostPort": 0}],
       "environment": [{"name": "GREETING", "value": "hi"}],
       "healthCheck": {"command": ["CMD", "/testapp", "probe"], "interval": 5}},
      {"name": "side", "image": "skiff-testapp:latest", "essential": false,
       "dependsOn": [{"containerName": "app", "condition": "HEALTHY"}], "links": ["app:web"]}
    ]
  }
}`

func TestDecodeGoodFile(t *testing.T) {
	svc, td, warnings, err := DecodeServiceFile([]byte(goodFile))
	if err != nil {
		t.Fatal(err)
	}
	if svc.Name != "web" || svc.DesiredCount != 3 || td.Family != "web" || len(td.ContainerDefinitions) != 2 || len(warnings) != 0 {
		t.Fatalf("decoded %+v %+v %v", svc, td, warnings)
	}
	if td.ContainerDefinitions[0].Environment[0].Value != "hi" || td.ContainerDefinitions[1].IsEssential() {
		t.Fatalf("containers %+v", td.ContainerDefinitions)
	}
}

// A service's project and the services it waits for reach the service.
func TestDecodeProjectAndDependencies(t *testing.T) {
	svc, _, _, err := DecodeServiceFile([]byte(`{"service":"shop-api","desiredCount":1,"project":"shop",
	  "dependsOn":[{"service":"shop-db","condition":"service_healthy"}],
	  "taskDefinition":{"family":"shop-api","containerDefinitions":[{"name":"a","image":"x"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if svc.Project != "shop" || len(svc.DependsOn) != 1 || svc.DependsOn[0] != (structs.ServiceDependency{Service: "shop-db", Condition: structs.ConditionHealthy}) {
		t.Fatalf("decoded project %q, dependsOn %+v", svc.Project, svc.DependsOn)
	}
}

// A task definition as `aws ecs describe-task-definition` prints it is
// accepted, with the fields skiff ignores listed as warnings.
func TestDecodeRealECSTaskDefinition(t *testing.T) {
	raw := `{
	  "taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/web:3",
	  "family": "web", "revision": 3, "status": "ACTIVE",
	  "taskRoleArn": "arn:aws:iam::1:role/web", "executionRoleArn": "arn:aws:iam::1:role/exec",
	  "networkMode": "bridge", "requiresCompatibilities": ["EC2"], "cpu": "256", "memory": "512",
	  "volumes": [], "placementConstraints": [], "compatibilities": ["EC2"],
	  "containerDefinitions": [{
	    "name": "web", "image": "nginx:1.27", "cpu": 128, "memory": 256, "memoryReservation": 128,
	    "essential": true, "portMappings": [{"containerPort": 80, "hostPort": 8080, "protocol": "tcp", "name": "http"}],
	    "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}},
	    "mountPoints": [], "volumesFrom": [], "environment": [{"name": "A", "value": "b"}]
	  }]
	}`
	td, warnings, err := DecodeTaskDefinition([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if td.Family != "web" || td.ContainerDefinitions[0].PortMappings[0].HostPort != 8080 {
		t.Fatalf("decoded %+v", td)
	}
	joined := strings.Join(warnings, "\n")
	for _, f := range []string{"taskRoleArn", "requiresCompatibilities", "containerDefinitions[0].logConfiguration", "containerDefinitions[0].portMappings[0].name", "revision"} {
		if !strings.Contains(joined, f+" is an ECS field") {
			t.Errorf("no warning for %s in:\n%s", f, joined)
		}
	}
	// memoryReservation is acted on now: the soft limit, and the cost.
	if c := td.ContainerDefinitions[0]; c.MemoryReservation != 128 || c.ReservedMemoryMiB() != 128 || strings.Contains(joined, "memoryReservation") {
		t.Errorf("memoryReservation: %+v, warnings:\n%s", c, joined)
	}
}

// The input of `aws ecs create-service --cli-input-json` is a service file
// as it is: the definition is named by family (its newest revision) or
// family:revision, and the fields skiff does not act on are warnings.
func TestDecodeCreateServiceInput(t *testing.T) {
	raw := `{
	  "cluster": "homelab", "serviceName": "web", "taskDefinition": "web:3", "desiredCount": 2,
	  "launchType": "EC2", "schedulingStrategy": "REPLICA",
	  "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}],
	  "placementConstraints": [{"type": "distinctInstance"}],
	  "deploymentConfiguration": {"maximumPercent": 150, "minimumHealthyPercent": 50,
	    "deploymentCircuitBreaker": {"enable": true, "rollback": false}, "alarms": {"enable": false}},
	  "healthCheckGracePeriodSeconds": 30,
	  "enableECSManagedTags": true, "propagateTags": "SERVICE", "tags": [{"key": "team", "value": "ops"}],
	  "clientToken": "abc"
	}`
	svc, td, warnings, err := DecodeServiceFile([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if td != nil || svc.Name != "web" || svc.TaskDefinition != "web:3" || svc.DesiredCount != 2 || len(svc.PlacementConstraints) != 1 {
		t.Fatalf("decoded %+v %+v", svc, td)
	}
	joined := strings.Join(warnings, "\n")
	if c := svc.DeploymentConfiguration; c == nil || *c.MaximumPercent != 150 || *c.MinimumHealthyPercent != 50 || svc.HealthCheckGracePeriodSeconds != 30 {
		t.Errorf("deployment configuration %+v, grace %d: want 50-150 and 30 s", c, svc.HealthCheckGracePeriodSeconds)
	} else if enable, rollback := c.Breaker(); !enable || rollback {
		t.Errorf("circuit breaker enable %v rollback %v: want enabled without rollback", enable, rollback)
	}
	if svc.Cluster != "homelab" {
		t.Errorf("cluster %q: want the pool homelab", svc.Cluster)
	}
	for _, f := range []string{"launchType", "deploymentConfiguration.alarms", "clientToken"} {
		if !strings.Contains(joined, f+" is an ECS field") {
			t.Errorf("no warning for %s in:\n%s", f, joined)
		}
	}
	if strings.Contains(joined, "tags is") || !slices.Equal(svc.Tags, []structs.Tag{{Key: "team", Value: "ops"}}) {
		t.Errorf("tags %+v, warnings:\n%s: want the service's tags kept, without a warning", svc.Tags, joined)
	}
	svc, _, _, err = DecodeServiceFile([]byte(`{"serviceName": "web", "taskDefinition": "web", "desiredCount": 1}`))
	if err != nil || svc.TaskDefinition != "web" {
		t.Fatalf("a family alone: %+v %v", svc, err)
	}
}

// A DAEMON service needs no desiredCount; REPLICA is the default and is
// stored as no strategy at all.
func TestDecodeSchedulingStrategy(t *testing.T) {
	svc, _, warnings, err := DecodeServiceFile([]byte(`{"service":"agent","schedulingStrategy":"DAEMON","taskDefinition":"agent",
	  "placementConstraints":[{"type":"memberOf","expression":"attribute:role == edge"}]}`))
	if err != nil || !svc.IsDaemon() || svc.DesiredCount != 0 || len(svc.PlacementConstraints) != 1 || len(warnings) != 0 {
		t.Fatalf("daemon: %+v %q %v", svc, warnings, err)
	}
	if svc, _, _, err = DecodeServiceFile([]byte(`{"service":"agent","schedulingStrategy":"DAEMON","desiredCount":0,"taskDefinition":"agent"}`)); err != nil || !svc.IsDaemon() {
		t.Fatalf("daemon with a count of 0: %+v %v", svc, err)
	}
	svc, _, _, err = DecodeServiceFile([]byte(`{"service":"web","schedulingStrategy":"REPLICA","desiredCount":2,"taskDefinition":"web"}`))
	if err != nil || svc.SchedulingStrategy != "" || svc.DesiredCount != 2 {
		t.Fatalf("replica: %+v %v", svc, err)
	}
}

// A spread service rebalances unless its file says "rebalance": false.
func TestDecodeRebalance(t *testing.T) {
	for _, c := range []struct {
		file string
		want bool
	}{
		{`{"service":"web","desiredCount":2,"taskDefinition":"web","placementStrategy":[{"type":"spread","field":"instanceId"}]}`, true},
		{`{"service":"web","desiredCount":2,"taskDefinition":"web","placementStrategy":[{"type":"spread","field":"instanceId"}],"rebalance":false}`, false},
		{`{"service":"web","desiredCount":2,"taskDefinition":"web","placementStrategy":[{"type":"spread","field":"attribute:zone"}],"rebalance":true}`, true},
		{`{"service":"web","desiredCount":2,"taskDefinition":"web","rebalance":true}`, false},
	} {
		svc, _, _, err := DecodeServiceFile([]byte(c.file))
		if err != nil || svc.Rebalances() != c.want {
			t.Errorf("%s: service %+v, err %v: want rebalancing %v", c.file, svc, err, c.want)
		}
	}
}

// The output of `aws ecs describe-task-definition` is a task definition as
// it is: unwrapped, with its read-only fields and tags as warnings, and
// errors naming fields as they are in the file.
func TestDecodeDescribedTaskDefinition(t *testing.T) {
	raw := `{"taskDefinition": {
	    "taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/web:3", "family": "web", "revision": 3,
	    "status": "ACTIVE", "registeredAt": "2026-01-02T03:04:05.000Z", "registeredBy": "arn:aws:iam::1:user/me",
	    "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
	    "containerDefinitions": [{"name": "web", "image": "nginx:1.27", "memory": 256, "essential": true}]
	  }, "tags": [{"key": "team", "value": "ops"}]}`
	td, warnings, err := DecodeTaskDefinition([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if td.Family != "web" || td.ContainerDefinitions[0].Image != "nginx:1.27" || td.Revision != 0 {
		t.Fatalf("decoded %+v", td)
	}
	joined := strings.Join(warnings, "\n")
	for _, f := range []string{"taskDefinition.taskDefinitionArn", "taskDefinition.revision", "taskDefinition.status", "taskDefinition.registeredAt"} {
		if !strings.Contains(joined, f+" is an ECS field") {
			t.Errorf("no warning for %s in:\n%s", f, joined)
		}
	}
	if !slices.Equal(td.Tags, []structs.Tag{{Key: "team", Value: "ops"}}) {
		t.Errorf("tags %+v: want the described tags on the definition", td.Tags)
	}
	_, _, err = DecodeTaskDefinition([]byte(`{"taskDefinition": {"family": "web", "containerDefinitions": [{"name": "web"}]}}`))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "taskDefinition.containerDefinitions[0].image" {
		t.Fatalf("missing image: %v", err)
	}
	_, _, err = DecodeTaskDefinition([]byte(`{"taskDefinition": {"family": "web", "containerDefinitions": [{"name": "web", "image": "x"}]}, "taskDefinitionArn": "x"}`))
	if !errors.As(err, &fe) || fe.Field != "taskDefinitionArn" || !strings.Contains(fe.Message, "unknown field") {
		t.Fatalf("a field beside the wrapped definition: %v", err)
	}
}

func TestDecodeBadInput(t *testing.T) {
	base := func(container string) string {
		return `{"service":"web","desiredCount":1,"taskDefinition":{"family":"web","containerDefinitions":[` + container + `]}}`
	}
	cases := []struct{ name, body, field, msg string }{
		{"malformed", `{"service":`, "body", "malformed JSON"},
		{"not an object", `[1,2]`, "body", "expected a JSON object"},
		{"unknown top field", `{"servce":"web"}`, "servce", "unknown field"},
		{"unknown container field", base(`{"name":"a","image":"x","imagee":"y"}`), "taskDefinition.containerDefinitions[0].imagee", "unknown field"},
		{"no name", `{"desiredCount":1,"taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"x"}]}}`, "service", "required"},
		{"bad name", `{"service":"we b","desiredCount":1}`, "service", "letters, digits"},
		{"no count", `{"service":"web"}`, "desiredCount", "required"},
		{"negative count", `{"service":"web","desiredCount":-1}`, "desiredCount", "out of range"},
		{"count type", `{"service":"web","desiredCount":"x"}`, "desiredCount", "expected int"},
		{"unknown scheduling", `{"service":"web","schedulingStrategy":"ONCE"}`, "schedulingStrategy", "expected REPLICA or DAEMON"},
		{"daemon count", `{"service":"web","schedulingStrategy":"DAEMON","desiredCount":3}`, "desiredCount", "leave desiredCount out"},
		{"daemon strategy", `{"service":"web","schedulingStrategy":"DAEMON","placementStrategy":[{"type":"spread","field":"instanceId"}]}`,
			"placementStrategy", "not taken by a DAEMON service"},
		{"daemon rebalance", `{"service":"web","schedulingStrategy":"DAEMON","rebalance":false}`, "rebalance", "not taken by a DAEMON service"},
		{"rebalance of another type", `{"service":"web","desiredCount":1,"rebalance":"no"}`, "rebalance", "expected bool"},
		{"no taskdef", `{"service":"web","desiredCount":1}`, "taskDefinition", "required"},
		{"taskdef of another type", `{"service":"web","desiredCount":1,"taskDefinition":3}`, "taskDefinition", "expected structs.TaskDefinition, got number"},
		{"bad taskdef reference", `{"service":"web","desiredCount":1,"taskDefinition":"web:latest"}`, "taskDefinition", "expected family or family:revision"},
		{"bad taskdef family", `{"service":"web","desiredCount":1,"taskDefinition":"w b"}`, "taskDefinition", "expected family or family:revision"},
		{"cpu of another type", base(`{"name":"a","image":"x","cpu":"x"}`), "taskDefinition.containerDefinitions.cpu", "expected int64"},
		{"no containers", `{"service":"web","desiredCount":1,"taskDefinition":{"family":"web","containerDefinitions":[]}}`, "taskDefinition.containerDefinitions", "expected 1 to 10"},
		{"no image", base(`{"name":"a"}`), "taskDefinition.containerDefinitions[0].image", "required"},
		{"no container name", base(`{"image":"x"}`), "taskDefinition.containerDefinitions[0].name", "required"},
		{"duplicate name", base(`{"name":"a","image":"x"},{"name":"a","image":"y"}`), "taskDefinition.containerDefinitions[1].name", "duplicate"},
		{"huge cpu", base(`{"name":"a","image":"x","cpu":99999999}`), "taskDefinition.containerDefinitions[0].cpu", "out of range"},
		{"tiny memory", base(`{"name":"a","image":"x","memory":2}`), "taskDefinition.containerDefinitions[0].memory", "out of range"},
		{"tiny reservation", base(`{"name":"a","image":"x","memoryReservation":2}`), "taskDefinition.containerDefinitions[0].memoryReservation", "out of range"},
		{"reservation over the limit", base(`{"name":"a","image":"x","memory":64,"memoryReservation":128}`), "taskDefinition.containerDefinitions[0].memoryReservation", "more than memory"},
		{"negative pids limit", base(`{"name":"a","image":"x","pidsLimit":-1}`), "taskDefinition.containerDefinitions[0].pidsLimit", "out of range"},
		{"no log driver", base(`{"name":"a","image":"x","logConfiguration":{"options":{"max-size":"1m"}}}`), "taskDefinition.containerDefinitions[0].logConfiguration.logDriver", "expected a Docker log driver"},
		{"log option typo", base(`{"name":"a","image":"x","logConfiguration":{"logDriver":"json-file","option":{}}}`), "taskDefinition.containerDefinitions[0].logConfiguration.option", "unknown field"},
		{"relative working directory", base(`{"name":"a","image":"x","workingDirectory":"app"}`), "taskDefinition.containerDefinitions[0].workingDirectory", "expected an absolute path"},
		{"port range", base(`{"name":"a","image":"x","portMappings":[{"containerPort":70000}]}`), "taskDefinition.containerDefinitions[0].portMappings[0].containerPort", "out of range"},
		{"host port twice", base(`{"name":"a","image":"x","portMappings":[{"containerPort":80,"hostPort":8080}]},{"name":"b","image":"x","portMappings":[{"containerPort":81,"hostPort":8080}]}`), "taskDefinition.containerDefinitions[1].portMappings[0].hostPort", "already used"},
		{"protocol", base(`{"name":"a","image":"x","portMappings":[{"containerPort":80,"protocol":"sctp"}]}`), "taskDefinition.containerDefinitions[0].portMappings[0].protocol", "tcp or udp"},
		{"dependsOn missing", base(`{"name":"a","image":"x","dependsOn":[{"containerName":"b","condition":"START"}]}`), "taskDefinition.containerDefinitions[0].dependsOn[0].containerName", "not another container"},
		{"dependsOn healthy without check", base(`{"name":"a","image":"x","dependsOn":[{"containerName":"b","condition":"HEALTHY"}]},{"name":"b","image":"x"}`), "taskDefinition.containerDefinitions[0].dependsOn[0].condition", "needs a healthCheck"},
		{"dependsOn cycle", base(`{"name":"a","image":"x","dependsOn":[{"containerName":"b","condition":"START"}]},{"name":"b","image":"x","dependsOn":[{"containerName":"a","condition":"START"}]}`), "taskDefinition.containerDefinitions", "cycle"},
		{"link missing", base(`{"name":"a","image":"x","links":["db"]}`), "taskDefinition.containerDefinitions[0].links[0]", "not another container"},
		{"gpu count", base(`{"name":"a","image":"x","resourceRequirements":[{"type":"GPU","value":"lots"}]}`), "taskDefinition.containerDefinitions[0].resourceRequirements[0].value", "count of GPUs from 1 to 16"},
		{"gpu twice", base(`{"name":"a","image":"x","resourceRequirements":[{"type":"GPU","value":"1"},{"type":"GPU","value":"1"}]}`), "taskDefinition.containerDefinitions[0].resourceRequirements[1].type", "twice"},
		{"inference accelerator", base(`{"name":"a","image":"x","resourceRequirements":[{"type":"InferenceAccelerator","value":"dev1"}]}`), "taskDefinition.containerDefinitions[0].resourceRequirements[0].type", "only in AWS"},
		{"none essential", base(`{"name":"a","image":"x","essential":false}`), "taskDefinition.containerDefinitions", "essential"},
		{"bad strategy", `{"service":"web","desiredCount":1,"placementStrategy":[{"type":"pack"}],"taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"x"}]}}`, "placementStrategy[0]", "binpack, spread or random"},
		{"bad constraint", `{"service":"web","desiredCount":1,"placementConstraints":[{"type":"memberOf","expression":"zone = a"}],"taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"x"}]}}`, "placementConstraints[0]", "attribute:KEY == VALUE"},
		{"too large", `{"service":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, "body", "larger than"},
		{"bad project", `{"service":"web","desiredCount":1,"project":"my app","taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"x"}]}}`, "project", "letters, digits"},
		{"dependency on itself", `{"service":"web","desiredCount":1,"dependsOn":[{"service":"web","condition":"service_started"}],"taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"x"}]}}`, "dependsOn[0].service", "cannot wait for itself"},
		{"dependency twice", `{"service":"web","desiredCount":1,"dependsOn":[{"service":"db","condition":"service_started"},{"service":"db","condition":"service_healthy"}],"taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"x"}]}}`, "dependsOn[1].service", "named twice"},
		{"dependency condition", `{"service":"web","desiredCount":1,"dependsOn":[{"service":"db","condition":"HEALTHY"}],"taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"x"}]}}`, "dependsOn[0].condition", "service_healthy"},
		{"dependency field typo", `{"service":"web","desiredCount":1,"dependsOn":[{"service":"db","conditon":"service_started"}]}`, "dependsOn[0].conditon", "unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, _, err := DecodeServiceFile([]byte(c.body))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want a FieldError, got %v", err)
			}
			if fe.Field != c.field || !strings.Contains(fe.Message, c.msg) {
				t.Fatalf("got %q: %q; want %q containing %q", fe.Field, fe.Message, c.field, c.msg)
			}
		})
	}
}

// FuzzDecodeServiceFile feeds arbitrary bytes to the decoder: it must never
// panic, and whatever it accepts must validate again after a round trip.
func FuzzDecodeServiceFile(f *testing.F) {
	f.Add([]byte(goodFile))
	f.Add([]byte(`{"service":"web","desiredCount":0,"taskDefinition":{"family":"w","containerDefinitions":[{"name":"a","image":"x"}]}}`))
	f.Add([]byte(`{"service":"web","desiredCount":1,"taskDefinition":{"family":"w","containerDefinitions":[{"name":"a","image":"x","dependsOn":[{"containerName":"a"}]}]}}`))
	f.Add([]byte(`{`))
	f.Add([]byte(`{"service":"web","desiredCount":1,"taskDefinition":{"family":"w","networkMode":"host","pidMode":"task","cpu":"1 vCPU","memory":512,` +
		`"containerDefinitions":[{"name":"a","image":"x","ulimits":[{"name":"nofile","softLimit":1,"hardLimit":2}],` +
		`"linuxParameters":{"capabilities":{"add":["cap_net_admin"]},"tmpfs":[{"containerPath":"/t","size":1}],"maxSwap":0}}]}}`))
	f.Add([]byte(`{"serviceName":"web","desiredCount":2,"taskDefinition":"web:3"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		svc, td, _, err := DecodeServiceFile(raw)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FieldError: %v", err)
			}
			return
		}
		field := TaskDefinitionField{Def: td}
		if td == nil {
			if err := checkTaskDefRef("taskDefinition", svc.TaskDefinition); err != nil {
				t.Fatalf("accepted reference does not check: %v", err)
			}
			field.Ref = svc.TaskDefinition
		} else if err := ValidateTaskDefinition(td, ""); err != nil {
			t.Fatalf("accepted definition does not validate: %v", err)
		}
		again, err := json.Marshal(ServiceFile{Service: svc.Name, DesiredCount: &svc.DesiredCount, PlacementStrategy: svc.PlacementStrategy,
			PlacementConstraints: svc.PlacementConstraints, RestartPolicy: svc.RestartPolicy, TaskDefinition: field})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := DecodeServiceFile(again); err != nil {
			t.Fatalf("re-encoded file refused: %v\n%s", err, again)
		}
	})
}

// deepBody is a service file whose command nests depth arrays: valid JSON,
// far within encoding/json's own limit of 10,000 levels.
func deepBody(depth int) []byte {
	return []byte(`{"service":"web","desiredCount":1,"taskDefinition":{"family":"web","containerDefinitions":[` +
		strings.Repeat("[", depth) + strings.Repeat("]", depth) + `]}}`)
}

// allocatedBytes is what fn allocates on the heap, in bytes.
func allocatedBytes(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A deeply nested body is refused at the depth limit, naming the field
// where it went too deep, without the decoder copying the inner text at
// every level (which took hundreds of MiB for a body of a few hundred KB).
func TestDecodeRefusesDeepNesting(t *testing.T) {
	body := deepBody(9000)
	var err error
	alloc := allocatedBytes(func() { _, _, _, err = DecodeServiceFile(body) })
	var fe *FieldError
	if !errors.As(err, &fe) || !strings.Contains(fe.Message, "nested deeper than 32 levels") ||
		!strings.HasPrefix(fe.Field, "taskDefinition.containerDefinitions[0][0][0]") {
		t.Fatalf("got %v, want a field error on taskDefinition.containerDefinitions[0][0]... about nesting", err)
	}
	if limit := 20 * uint64(len(body)); alloc > limit {
		t.Fatalf("decoding %d bytes allocated %d bytes, more than %d", len(body), alloc, limit)
	}
	// A definition at the limit's edge is still refused for its content,
	// not its depth, and ECS's deepest real fields are far from it.
	if _, _, _, err := DecodeServiceFile(deepBody(28)); err == nil || strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("depth 31: %v", err)
	}
}

// What the decoder allocates grows with the body, not with the body times
// its depth: arrays nested 29 deep where environment variables belong
// (refused, but only after all of it was read), many small values in
// fields skiff ignores or takes as they are, and floods of empty strings
// or containers (refused at their bound) each cost less than 20 bytes per
// byte of input.
func TestDecodeAllocatesLinearly(t *testing.T) {
	container := func(fields string) string {
		return `{"service":"web","desiredCount":1,"taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"x","memory":16` +
			fields + `}]}}`
	}
	list := func(item string, n int) string { return strings.TrimSuffix(strings.Repeat(item+",", n), ",") }
	nested := strings.Repeat("[", 26) + strings.Repeat("]", 26)
	cases := []struct{ name, body, err string }{
		{"nested", container(`,"environment":[` + list(nested, 1000) + `]`), "expected structs.KeyValue"},
		{"labels", container(`,"dockerLabels":{` + list(`"k":"v"`, 50_000) + `}`), ""},
		{"ignored", strings.Replace(container(""), `{"service"`, `{"serviceRegistries":[`+list(`1,"a",{"b":[2]}`, 40_000)+`],"service"`, 1), ""},
		{"strings", container(`,"command":[` + list(`""`, 300_000) + `]`), "command: expected at most 1000 items"},
		{"containers", `{"service":"web","desiredCount":1,"taskDefinition":{"family":"web","containerDefinitions":[` + list("{}", 300_000) + `]}}`,
			"expected at most 10 containers"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			body := []byte(c.body)
			alloc := allocatedBytes(func() { _, _, _, err = DecodeServiceFile(body) })
			if (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("got %v, want an error containing %q", err, c.err)
			}
			perByte := float64(alloc) / float64(len(c.body))
			t.Logf("%d bytes decoded with %d allocated (%.1f per byte)", len(c.body), alloc, perByte)
			if perByte > 20 {
				t.Fatalf("decoding %d bytes allocated %d bytes, %.1f per byte", len(c.body), alloc, perByte)
			}
		})
	}
}

func BenchmarkDecodeNested(b *testing.B) {
	body := deepBody(9000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_, _, _, _ = DecodeServiceFile(body)
	}
}

// Keys are compared after JSON unescaping, as encoding/json decodes them.
func TestDecodeEscapedKeys(t *testing.T) {
	raw := `{"\u0073ervice":"web","desiredCount":1,"launchTyp\u0065":"x","taskDefinition":{"family":"web",` +
		`"containerDefinitions":[{"name":"a","image":"x","\u0069magee":"y"}]}}`
	_, _, _, err := DecodeServiceFile([]byte(raw))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "taskDefinition.containerDefinitions[0].imagee" {
		t.Fatalf("got %v, want an unknown field error on taskDefinition.containerDefinitions[0].imagee", err)
	}
	svc, _, warnings, err := DecodeServiceFile([]byte(strings.Replace(raw, `,"\u0069magee":"y"`, "", 1)))
	if err != nil || svc.Name != "web" || len(warnings) != 1 || !strings.HasPrefix(warnings[0], "launchType is an ECS field") {
		t.Fatalf("got %v, %q, %v", svc, warnings, err)
	}
}

// The container fields that bound a container are decoded: limits, the
// process cap and a log driver with its options.
func TestDecodeContainerBounds(t *testing.T) {
	raw := `{"family":"web","containerDefinitions":[{"name":"a","image":"x","memory":256,"memoryReservation":64,"pidsLimit":200,
	  "workingDirectory":"/srv","logConfiguration":{"logDriver":"local","options":{"max-size":"5m"},"secretOptions":[]}}]}`
	td, warnings, err := DecodeTaskDefinition([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := td.ContainerDefinitions[0]
	if c.Memory != 256 || c.MemoryReservation != 64 || c.PidsLimit != 200 || c.WorkingDirectory != "/srv" ||
		c.LogConfiguration == nil || c.LogConfiguration.LogDriver != "local" || c.LogConfiguration.Options["max-size"] != "5m" {
		t.Fatalf("decoded %+v", c)
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "containerDefinitions[0].logConfiguration.secretOptions is an ECS field") {
		t.Fatalf("warnings %q", warnings)
	}
}

// The files in examples/ecs are the ECS forms as they are: a described
// task definition and a create-service input that names it.
func TestECSExamplesDecode(t *testing.T) {
	raw, err := os.ReadFile("../examples/ecs/web-taskdef.json")
	if err != nil {
		t.Fatal(err)
	}
	td, _, err := DecodeTaskDefinition(raw)
	if err != nil || td.Family != "web" {
		t.Fatalf("web-taskdef.json: %+v %v", td, err)
	}
	if raw, err = os.ReadFile("../examples/ecs/web-service.json"); err != nil {
		t.Fatal(err)
	}
	svc, inline, _, err := DecodeServiceFile(raw)
	if err != nil || inline != nil || svc.TaskDefinition != td.Family {
		t.Fatalf("web-service.json: %+v %v", svc, err)
	}
}

// A container's GPU requirement, as ECS writes it, is a count skiff acts on.
func TestDecodeGPURequirement(t *testing.T) {
	_, td, warnings, err := DecodeServiceFile([]byte(`{"service":"ml","desiredCount":1,"taskDefinition":{"family":"ml","containerDefinitions":[
	  {"name":"a","image":"x","resourceRequirements":[{"type":"GPU","value":"2"}]}]}}`))
	if err != nil || len(warnings) != 0 || td.GPUs() != 2 {
		t.Fatalf("decoded %+v, warnings %v, err %v", td, warnings, err)
	}
}
