package structs

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tag is an ECS resource tag: a key, and a value that may be empty. Tags
// label services, task definitions and nodes for people and scripts
// (`--filter tag:KEY=VALUE`); placement reads node attributes, not tags.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ECS's bounds on tags, which skiff keeps so that tagged ECS files apply
// as they are.
const (
	MaxTags           = 50
	MaxTagKeyLength   = 128
	MaxTagValueLength = 256
)

// TagError is a list of tags that breaks a rule: the list itself when
// Index is -1, else its tag at Index, in its Part ("key" or "value").
type TagError struct {
	Index   int
	Part    string
	Message string
}

// Field names the tag relative to the list, "[2].key", or "" for the list.
func (e *TagError) Field() string {
	if e.Index < 0 {
		return ""
	}
	return fmt.Sprintf("[%d].%s", e.Index, e.Part)
}

func (e *TagError) Error() string { return e.Field() + ": " + e.Message }

// ValidateTags checks tags as ECS does: at most MaxTags, each key given,
// unique, at most MaxTagKeyLength characters and its value at most
// MaxTagValueLength, both of letters, digits, spaces and + - = . _ : / @,
// and neither starting with ECS's reserved "aws:". It returns a *TagError.
func ValidateTags(tags []Tag) error {
	if len(tags) > MaxTags {
		return &TagError{Index: -1, Message: fmt.Sprintf("%d tags: at most %d are allowed", len(tags), MaxTags)}
	}
	seen := map[string]bool{}
	for i, t := range tags {
		if t.Key == "" {
			return &TagError{Index: i, Part: "key", Message: "required: a tag needs a key"}
		}
		if msg := checkTagText(t.Key, MaxTagKeyLength); msg != "" {
			return &TagError{Index: i, Part: "key", Message: msg}
		}
		if msg := checkTagText(t.Value, MaxTagValueLength); msg != "" {
			return &TagError{Index: i, Part: "value", Message: msg}
		}
		if seen[t.Key] {
			return &TagError{Index: i, Part: "key", Message: fmt.Sprintf("duplicate key %q: each key may appear once", t.Key)}
		}
		seen[t.Key] = true
	}
	return nil
}

// checkTagText says what is wrong with a tag's key or value, or "".
func checkTagText(s string, maxLen int) string {
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	if n := utf8.RuneCountInString(s); n > maxLen {
		return fmt.Sprintf("%d characters: at most %d are allowed", n, maxLen)
	}
	if len(s) >= 4 && strings.EqualFold(s[:4], "aws:") {
		return fmt.Sprintf("%q: the prefix aws: is reserved", s)
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != ' ' && !strings.ContainsRune("+-=._:/@", r) {
			return fmt.Sprintf("%q: the character %q is not allowed (letters, digits, spaces and + - = . _ : / @ are)", s, r)
		}
	}
	return ""
}

// TagFilter selects objects by one tag: its key with the value Value, or
// with any value when AnyValue is set.
type TagFilter struct {
	Key      string
	Value    string
	AnyValue bool
}

// ParseTagFilter reads "KEY=VALUE" (the value may be empty) or "KEY" (any
// value).
func ParseTagFilter(s string) (TagFilter, error) {
	key, value, hasValue := strings.Cut(s, "=")
	if key == "" {
		return TagFilter{}, fmt.Errorf("%q: expected KEY=VALUE or KEY", s)
	}
	return TagFilter{Key: key, Value: value, AnyValue: !hasValue}, nil
}

// String is the filter as ParseTagFilter reads it.
func (f TagFilter) String() string {
	if f.AnyValue {
		return f.Key
	}
	return f.Key + "=" + f.Value
}

// MatchTags reports whether tags satisfy every filter.
func MatchTags(tags []Tag, filters []TagFilter) bool {
	for _, f := range filters {
		found := false
		for _, t := range tags {
			if t.Key == f.Key && (f.AnyValue || t.Value == f.Value) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// MergeTags is base with over's tags added, over's value winning for a key
// both have, in base's order then over's.
func MergeTags(base, over []Tag) []Tag {
	if len(over) == 0 {
		return base
	}
	out := make([]Tag, 0, len(base)+len(over))
	for _, t := range base {
		if !hasTagKey(over, t.Key) {
			out = append(out, t)
		}
	}
	return append(out, over...)
}

func hasTagKey(tags []Tag, key string) bool {
	for _, t := range tags {
		if t.Key == key {
			return true
		}
	}
	return false
}
