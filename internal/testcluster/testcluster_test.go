package testcluster

import (
	"strings"
	"testing"
)

func TestDiffNamesWhatDiffers(t *testing.T) {
	a := snapshot{member: "n1", tables: map[string]map[string]string{
		"services": {"web": `{"n":1}`, "db": `{"n":2}`},
		"tasks":    {"t1": `{}`},
	}}
	b := snapshot{member: "n2", tables: map[string]map[string]string{
		"services": {"web": `{"n":3}`, "api": `{}`},
		"tasks":    {"t1": `{}`},
	}}
	got := strings.Join(diff(a, b), "\n")
	for _, want := range []string{"services[api]: only on n2", "services[db]: only on n1", "services[web]:", `n1: {"n":1}`, `n2: {"n":3}`} {
		if !strings.Contains(got, want) {
			t.Errorf("diff lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "tasks") {
		t.Errorf("diff names an equal table:\n%s", got)
	}
	if d := diff(a, a); len(d) != 0 {
		t.Errorf("a snapshot differs from itself: %v", d)
	}
}
