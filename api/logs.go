package api

import (
	"net/url"
	"strconv"
	"time"

	"github.com/skiff-run/skiff/structs"
)

// parseLogOptions reads the query of a task's logs: follow, tail (a line
// count, or all), since (an RFC 3339 time) and timestamps. A follow that
// does not parse is false, as it always was.
func parseLogOptions(q url.Values) (structs.LogOptions, error) {
	opts := structs.LogOptions{Tail: structs.AllLines}
	opts.Follow, _ = strconv.ParseBool(q.Get("follow"))
	if s := q.Get("tail"); s != "" && s != "all" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return opts, fieldErr("tail", "%q: expected a number of lines (0 or more) or all", s)
		}
		opts.Tail = n
	}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return opts, fieldErr("since", "%q: expected an RFC 3339 time such as 2026-01-02T15:04:05Z", s)
		}
		opts.Since = t
	}
	var err error
	if opts.Timestamps, err = boolParam(q, "timestamps"); err != nil {
		return opts, err
	}
	return opts, nil
}

// logQuery encodes opts as the query of a task's logs, leaving out what is
// the default.
func logQuery(container string, opts structs.LogOptions) url.Values {
	q := url.Values{}
	if container != "" {
		q.Set("container", container)
	}
	if opts.Follow {
		q.Set("follow", "true")
	}
	if opts.Tail >= 0 {
		q.Set("tail", strconv.Itoa(opts.Tail))
	}
	if !opts.Since.IsZero() {
		q.Set("since", opts.Since.UTC().Format(time.RFC3339Nano))
	}
	if opts.Timestamps {
		q.Set("timestamps", "1")
	}
	return q
}
