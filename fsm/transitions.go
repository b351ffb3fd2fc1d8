package fsm

import (
	"errors"
	"fmt"

	"github.com/skiff-run/skiff/structs"
)

// effect is what a node's report does to a task, given the status the
// task has.
type effect int

const (
	// illegal reports are refused by Check and skipped by Apply.
	illegal effect = iota
	// applied reports change the task.
	applied
	// final reports are legal but change nothing, because the task is
	// over: a retried batch repeating STOPPED, or a node back from the
	// dead telling how the container of a task the leader already lost
	// ended.
	final
)

// reportTransitions is the one table of what a node may report about one
// of its tasks: by the task's status, the effect of each status a node may
// report. A status missing from a row is illegal from there. STOPPED and
// LOST are final, so no report brings a task back from them: its service
// has placed or will place a replacement, and a revived task would run
// twice. LOST is never a node's word: it is the leader's verdict, through
// SetNodeStatus, on a node it cannot reach, and a node that reports is by
// that very report not out of reach.
var reportTransitions = map[string]map[string]effect{
	// A task placed without a status has not started. No leader writes
	// one, but a log may hold one, and it has always moved as PENDING.
	"":                    {structs.StatusPending: applied, structs.StatusRunning: applied, structs.StatusStopped: applied},
	structs.StatusPending: {structs.StatusPending: applied, structs.StatusRunning: applied, structs.StatusStopped: applied},
	// A running task falls back to PENDING while an essential container
	// is not running but has not exited (restarting, paused).
	structs.StatusRunning: {structs.StatusPending: applied, structs.StatusRunning: applied, structs.StatusStopped: applied},
	structs.StatusStopped: {structs.StatusStopped: final},
	structs.StatusLost:    {structs.StatusStopped: final},
}

// reportable reports whether a node may ever report status, from some
// status of its task.
func reportable(status string) bool {
	for _, row := range reportTransitions {
		if row[status] != illegal {
			return true
		}
	}
	return false
}

// checkReportable says why a node may never report status, or returns nil
// when some status of its task allows it.
func checkReportable(status string) error {
	switch {
	case status == structs.StatusLost:
		return errors.New("LOST is not a status a node reports: it is the leader's verdict on a node that is down")
	case !reportable(status):
		return fmt.Errorf("%q is not a status a node reports (PENDING, RUNNING or STOPPED)", status)
	}
	return nil
}

// transition is the effect of a node's report of status to on a task whose
// status is from, or an error naming the task and both statuses when the
// report is illegal.
func transition(task, from, to string) (effect, error) {
	if e := reportTransitions[from][to]; e != illegal {
		return e, nil
	}
	shown := from
	if shown == "" {
		shown = "no status"
	}
	why := "not a change a node's report may make"
	if err := checkReportable(to); err != nil {
		why = err.Error()
	} else if from == structs.StatusStopped || from == structs.StatusLost {
		why = from + " is final: a stopped or lost task never runs again, its service replaces it"
	}
	return illegal, fmt.Errorf("task %s: %s to %s: %s", task, shown, to, why)
}
