package structs

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// TaskSize is a task definition's task-level cpu or memory as ECS writes
// it: a number, or a string holding a number with or without a unit. ECS
// takes cpu in units ("256", 256) or vCPUs ("1 vCPU", "0.5 vcpu"), and
// memory in MiB ("512", 512) or GB ("1GB", "2 GB"), and describes a
// registered definition with strings, so both kinds decode. It keeps the
// text it was given; CPUUnits and MiB read it, and the API refuses a
// definition whose sizes they cannot read.
type TaskSize string

// UnmarshalJSON takes a string or a number.
func (s *TaskSize) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		*s = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*s = TaskSize(str)
		return nil
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		*s = TaskSize(b)
		return nil
	}
	kind := "object"
	switch b[0] {
	case '[':
		kind = "array"
	case 't', 'f':
		kind = "bool"
	}
	return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[TaskSize]()}
}

// CPUUnits reads the size as cpu units, 1024 to a vCPU. An empty size is
// 0.
func (s TaskSize) CPUUnits() (int64, error) {
	return s.parse("vcpu", "cpu units (256) or vCPUs (\"0.5 vCPU\")")
}

// MiB reads the size as memory in MiB, 1024 to a GB. An empty size is 0.
func (s TaskSize) MiB() (int64, error) {
	return s.parse("gb", "MiB (512) or GB (\"1GB\")")
}

// parse reads a whole number of base units, or a number of the unit
// (1024 base units each) that comes to a whole number of base units.
func (s TaskSize) parse(unit, want string) (int64, error) {
	text := strings.ToLower(strings.TrimSpace(string(s)))
	if text == "" {
		return 0, nil
	}
	num, scaled := strings.CutSuffix(text, unit)
	num = strings.TrimSpace(num)
	if !scaled {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q: expected %s", string(s), want)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	units := f * 1024
	if err != nil || f < 0 || math.IsInf(units, 0) || units != math.Trunc(units) || units > math.MaxInt32 {
		return 0, fmt.Errorf("%q: expected %s", string(s), want)
	}
	return int64(units), nil
}

// CPUBudget is the task's cpu units as its task-level cpu gives them: the
// budget of all its containers together. 0 when it gives none.
func (t *TaskDefinition) CPUBudget() int64 {
	n, _ := t.TaskCPU.CPUUnits()
	return n
}

// MemoryBudgetMiB is the task's memory as its task-level memory gives it:
// the budget of all its containers together, and the hard limit of each
// container that has none of its own. 0 when it gives none.
func (t *TaskDefinition) MemoryBudgetMiB() int64 {
	n, _ := t.TaskMemory.MiB()
	return n
}
