package structs

import "testing"

func TestMoveOf(t *testing.T) {
	wanted := func(id, replaces string) *Task {
		return &Task{ID: id, Replaces: replaces, DesiredStatus: StatusRunning, LastStatus: StatusRunning}
	}
	stopping := func(id, replaces string) *Task {
		return &Task{ID: id, Replaces: replaces, DesiredStatus: StatusStopped, LastStatus: StatusRunning}
	}
	for _, c := range []struct {
		name       string
		tasks      []*Task
		repl, orig string
	}{
		{"no move", []*Task{wanted("a", ""), wanted("b", "")}, "", ""},
		{"under way", []*Task{wanted("a", ""), wanted("r", "a")}, "r", "a"},
		{"done: the replaced task stops", []*Task{stopping("a", ""), wanted("r", "a")}, "", ""},
		{"abandoned: the replacement stops", []*Task{wanted("a", ""), stopping("r", "a")}, "", ""},
		{"the replaced task is gone", []*Task{wanted("r", "a")}, "", ""},
	} {
		r, o := MoveOf(c.tasks)
		if id(r) != c.repl || id(o) != c.orig {
			t.Errorf("%s: move %q of %q, want %q of %q", c.name, id(r), id(o), c.repl, c.orig)
		}
	}
}

func id(t *Task) string {
	if t == nil {
		return ""
	}
	return t.ID
}
