package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
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
		{"no taskdef", `{"service":"web","desiredCount":1}`, "taskDefinition", "required"},
		{"no containers", `{"service":"web","desiredCount":1,"taskDefinition":{"family":"web","containerDefinitions":[]}}`, "taskDefinition.containerDefinitions", "expected 1 to 10"},
		{"no image", base(`{"name":"a"}`), "taskDefinition.containerDefinitions[0].image", "required"},
		{"no container name", base(`{"image":"x"}`), "taskDefinition.containerDefinitions[0].name", "required"},
		{"duplicate name", base(`{"name":"a","image":"x"},{"name":"a","image":"y"}`), "taskDefinition.containerDefinitions[1].name", "duplicate"},
		{"huge cpu", base(`{"name":"a","image":"x","cpu":99999999}`), "taskDefinition.containerDefinitions[0].cpu", "out of range"},
		{"tiny memory", base(`{"name":"a","image":"x","memory":2}`), "taskDefinition.containerDefinitions[0].memory", "out of range"},
		{"port range", base(`{"name":"a","image":"x","portMappings":[{"containerPort":70000}]}`), "taskDefinition.containerDefinitions[0].portMappings[0].containerPort", "out of range"},
		{"host port twice", base(`{"name":"a","image":"x","portMappings":[{"containerPort":80,"hostPort":8080}]},{"name":"b","image":"x","portMappings":[{"containerPort":81,"hostPort":8080}]}`), "taskDefinition.containerDefinitions[1].portMappings[0].hostPort", "already used"},
		{"protocol", base(`{"name":"a","image":"x","portMappings":[{"containerPort":80,"protocol":"sctp"}]}`), "taskDefinition.containerDefinitions[0].portMappings[0].protocol", "tcp or udp"},
		{"dependsOn missing", base(`{"name":"a","image":"x","dependsOn":[{"containerName":"b","condition":"START"}]}`), "taskDefinition.containerDefinitions[0].dependsOn[0].containerName", "not another container"},
		{"dependsOn healthy without check", base(`{"name":"a","image":"x","dependsOn":[{"containerName":"b","condition":"HEALTHY"}]},{"name":"b","image":"x"}`), "taskDefinition.containerDefinitions[0].dependsOn[0].condition", "needs a healthCheck"},
		{"dependsOn cycle", base(`{"name":"a","image":"x","dependsOn":[{"containerName":"b","condition":"START"}]},{"name":"b","image":"x","dependsOn":[{"containerName":"a","condition":"START"}]}`), "taskDefinition.containerDefinitions", "cycle"},
		{"link missing", base(`{"name":"a","image":"x","links":["db"]}`), "taskDefinition.containerDefinitions[0].links[0]", "not another container"},
		{"none essential", base(`{"name":"a","image":"x","essential":false}`), "taskDefinition.containerDefinitions", "essential"},
		{"bad strategy", `{"service":"web","desiredCount":1,"placementStrategy":[{"type":"pack"}],"taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"x"}]}}`, "placementStrategy[0]", "binpack, spread or random"},
		{"bad constraint", `{"service":"web","desiredCount":1,"placementConstraints":[{"type":"memberOf","expression":"zone = a"}],"taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"x"}]}}`, "placementConstraints[0]", "attribute:KEY == VALUE"},
		{"too large", `{"service":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, "body", "larger than"},
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
	f.Fuzz(func(t *testing.T, raw []byte) {
		svc, td, _, err := DecodeServiceFile(raw)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FieldError: %v", err)
			}
			return
		}
		if err := ValidateTaskDefinition(td, ""); err != nil {
			t.Fatalf("accepted definition does not validate: %v", err)
		}
		again, err := json.Marshal(ServiceFile{Service: svc.Name, DesiredCount: &svc.DesiredCount, PlacementStrategy: svc.PlacementStrategy,
			PlacementConstraints: svc.PlacementConstraints, RestartPolicy: svc.RestartPolicy, TaskDefinition: td})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := DecodeServiceFile(again); err != nil {
			t.Fatalf("re-encoded file refused: %v\n%s", err, again)
		}
	})
}
