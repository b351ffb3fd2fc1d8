package structs

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidateTags(t *testing.T) {
	many := make([]Tag, MaxTags+1)
	for i := range many {
		many[i] = Tag{Key: "k" + strings.Repeat("x", i)}
	}
	for _, tc := range []struct {
		name  string
		tags  []Tag
		index int
		part  string
		msg   string
	}{
		{"no key", []Tag{{Key: "a", Value: "1"}, {Value: "x"}}, 1, "key", "required"},
		{"key too long", []Tag{{Key: strings.Repeat("k", MaxTagKeyLength+1)}}, 0, "key", "129 characters: at most 128"},
		{"value too long", []Tag{{Key: "k", Value: strings.Repeat("v", MaxTagValueLength+1)}}, 0, "value", "257 characters: at most 256"},
		{"duplicate key", []Tag{{Key: "team", Value: "a"}, {Key: "team", Value: "b"}}, 1, "key", `duplicate key "team"`},
		{"reserved prefix", []Tag{{Key: "AWS:owner"}}, 0, "key", "aws: is reserved"},
		{"reserved prefix in a value", []Tag{{Key: "k", Value: "aws:x"}}, 0, "value", "aws: is reserved"},
		{"a character ECS refuses", []Tag{{Key: "k", Value: "a;b"}}, 0, "value", `';' is not allowed`},
		{"too many", many, -1, "", "51 tags: at most 50"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var te *TagError
			if err := ValidateTags(tc.tags); !errors.As(err, &te) || te.Index != tc.index || te.Part != tc.part || !strings.Contains(te.Message, tc.msg) {
				t.Fatalf("got %v, want tag %d's %s: %q", err, tc.index, tc.part, tc.msg)
			}
		})
	}
	ok := []Tag{{Key: "team", Value: "ops"}, {Key: "cost centre", Value: ""}, {Key: "zone", Value: "eu-west/1a"}, {Key: "Grüße", Value: "@home+1=2:_."},
		{Key: strings.Repeat("k", MaxTagKeyLength), Value: strings.Repeat("é", MaxTagValueLength)}}
	if err := ValidateTags(append(ok, many[:MaxTags-len(ok)]...)); err != nil {
		t.Fatalf("valid tags refused: %v", err)
	}
}

func TestTagFilters(t *testing.T) {
	tags := []Tag{{Key: "team", Value: "ops"}, {Key: "env", Value: ""}, {Key: "zone", Value: "a=b"}}
	for _, tc := range []struct {
		filters []string
		match   bool
	}{
		{nil, true},
		{[]string{"team=ops"}, true},
		{[]string{"team=dev"}, false},
		{[]string{"team"}, true},
		{[]string{"env="}, true},
		{[]string{"env=x"}, false},
		{[]string{"zone=a=b"}, true},
		{[]string{"team=ops", "zone=a=b"}, true},
		{[]string{"team=ops", "owner"}, false},
		{[]string{"Team=ops"}, false},
	} {
		var fs []TagFilter
		for _, s := range tc.filters {
			f, err := ParseTagFilter(s)
			if err != nil {
				t.Fatal(err)
			}
			if f.String() != s {
				t.Errorf("%q reads back as %q", s, f.String())
			}
			fs = append(fs, f)
		}
		if got := MatchTags(tags, fs); got != tc.match {
			t.Errorf("filters %q: match %v, want %v", tc.filters, got, tc.match)
		}
	}
	for _, bad := range []string{"", "=x"} {
		if _, err := ParseTagFilter(bad); err == nil {
			t.Errorf("filter %q accepted", bad)
		}
	}
}

func TestMergeTags(t *testing.T) {
	def := []Tag{{Key: "team", Value: "ops"}, {Key: "app", Value: "web"}}
	svc := []Tag{{Key: "team", Value: "web-team"}, {Key: "env", Value: "prod"}}
	want := []Tag{{Key: "app", Value: "web"}, {Key: "team", Value: "web-team"}, {Key: "env", Value: "prod"}}
	if got := MergeTags(def, svc); !slices.Equal(got, want) {
		t.Fatalf("merged %v, want %v", got, want)
	}
	if got := MergeTags(def, nil); !slices.Equal(got, def) {
		t.Fatalf("merged with none %v, want %v", got, def)
	}
}
