package structs

import "time"

// The options of the streams a task's containers give people: their logs,
// and the terminals of commands run in them.

// TermSize is the size of a terminal in characters, which exec passes from
// the user's terminal to a command's in a container.
type TermSize struct {
	Rows uint16 `json:"rows"`
	Cols uint16 `json:"cols"`
}

// LogOptions choose what of a container's log to read.
type LogOptions struct {
	// Follow keeps streaming new output until the container stops.
	Follow bool
	// Tail, when not negative, starts that many lines before the end.
	Tail int
	// Since, when set, leaves out what was written before it.
	Since time.Time
	// Timestamps starts every line with the time the engine got it
	// (RFC 3339 with nanoseconds).
	Timestamps bool
}

// AllLines is the Tail of LogOptions that reads the whole log.
const AllLines = -1
