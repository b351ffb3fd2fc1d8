package api

import (
	"strings"
	"testing"
)

// TestServiceFileSource checks that a service file's source reaches the
// service, and that one that is not printable text is refused, naming
// the field.
func TestServiceFileSource(t *testing.T) {
	file := func(source string) []byte {
		return []byte(`{"service":"web","desiredCount":1,"source":` + source +
			`,"taskDefinition":{"family":"web","containerDefinitions":[{"name":"a","image":"b","memory":16}]}}`)
	}
	svc, _, _, err := DecodeServiceFile(file(`"/srv/deploy"`))
	if err != nil || svc.Source != "/srv/deploy" {
		t.Fatalf("decoded %+v, %v; want source /srv/deploy", svc, err)
	}
	for _, bad := range []string{`"a\nb"`, `"` + strings.Repeat("x", maxSourceLength+1) + `"`} {
		if _, _, _, err := DecodeServiceFile(file(bad)); err == nil || !strings.HasPrefix(err.Error(), "source: ") {
			t.Errorf("source %.20s...: got %v, want an error naming source", bad, err)
		}
	}
}
