package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/skiff-run/skiff/structs"
)

func TestDecodeScheduleFile(t *testing.T) {
	raw := `{"service":"backup","schedule":"cron(0 3 * * ? *)","concurrency":"forbid",
	  "taskDefinition":{"family":"backup","containerDefinitions":[{"name":"app","image":"x","memory":32}]}}`
	if !IsScheduleFile([]byte(raw)) || IsScheduleFile([]byte(goodFile)) {
		t.Fatal("IsScheduleFile does not tell a schedule from a service")
	}
	s, td, _, err := DecodeScheduleFile([]byte(raw))
	if err != nil || s.Name != "backup" || s.Expression != "cron(0 3 * * ? *)" || s.Concurrency != structs.ConcurrencyForbid || td == nil {
		t.Fatalf("decoded %+v %+v %v", s, td, err)
	}
	s, _, _, err = DecodeScheduleFile([]byte(`{"service":"backup","schedule":"rate(5 minutes)","taskDefinition":"backup"}`))
	if err != nil || s.Concurrency != structs.ConcurrencyAllow || s.TaskDefinition != "backup" {
		t.Fatalf("defaults: %+v %v", s, err)
	}
	if _, _, _, err := DecodeServiceFile([]byte(raw)); !isField(err, "schedule") {
		t.Fatalf("a schedule decoded as a service: %v", err)
	}
	for _, c := range []struct{ body, field, msg string }{
		{`{"service":"b","taskDefinition":"b"}`, "schedule", "required"},
		{`{"service":"b","schedule":"cron(0 3 * * ? 2030)","taskDefinition":"b"}`, "schedule", "only * is supported"},
		{`{"service":"b","schedule":"rate(1 minute)","concurrency":"queue","taskDefinition":"b"}`, "concurrency", "expected allow"},
		{`{"service":"b","schedule":"rate(1 minute)","desiredCount":1,"taskDefinition":"b"}`, "desiredCount", "not taken"},
		{`{"service":"b","schedule":"rate(1 minute)"}`, "taskDefinition", "required"},
	} {
		_, _, _, err := DecodeScheduleFile([]byte(c.body))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Message, c.msg) {
			t.Errorf("%s: %v, want %s: ...%s...", c.body, err, c.field, c.msg)
		}
	}
}

func isField(err error, field string) bool {
	var fe *FieldError
	return errors.As(err, &fe) && fe.Field == field
}
