// Package schedule reads the schedule expressions of EventBridge (and
// ECS scheduled tasks): cron(minutes hours day-of-month month day-of-week
// year) and rate(N unit). It turns them into the times they fire, in UTC.
// Cron fields are parsed by github.com/robfig/cron/v3 once converted to its
// five-field form. It imports nothing of skiff's.
package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a parsed expression.
type Schedule interface {
	// Next is the first time the schedule fires strictly after t.
	Next(t time.Time) time.Time
}

// Error is an expression refused, naming the part of it at fault (for a
// cron expression, the field: "day-of-week", "year" ...).
type Error struct {
	Part    string
	Message string
}

func (e *Error) Error() string {
	if e.Part == "" {
		return e.Message
	}
	return e.Part + ": " + e.Message
}

func errorf(part, format string, args ...any) *Error {
	return &Error{Part: part, Message: fmt.Sprintf(format, args...)}
}

// MinRate is the shortest rate: EventBridge's, one minute.
const MinRate = time.Minute

// Parse reads an expression. A rate counts from anchor (EventBridge
// counts from when the rule is made): it fires at anchor + k·period.
//
// The cron subset is EventBridge's without its extensions: each of the
// six fields takes *, a value, a range a-b, a list a,b and a step x/n;
// months and days of the week also take their names (JAN, MON); exactly one
// of day-of-month and day-of-week is ?, as EventBridge requires. Days of
// the week are numbered as in EventBridge, 1 (SUN) to 7 (SAT). Refused,
// naming the field: L, W and # (last, weekday, nth), and a year other than
// *, which would make a schedule that stops.
func Parse(expr string, anchor time.Time) (Schedule, error) {
	expr = strings.TrimSpace(expr)
	switch {
	case strings.HasPrefix(expr, "rate(") && strings.HasSuffix(expr, ")"):
		return parseRate(strings.TrimSuffix(strings.TrimPrefix(expr, "rate("), ")"), anchor)
	case strings.HasPrefix(expr, "cron(") && strings.HasSuffix(expr, ")"):
		return parseCron(strings.TrimSuffix(strings.TrimPrefix(expr, "cron("), ")"))
	}
	return nil, errorf("", "%q: expected cron(minutes hours day-of-month month day-of-week year) or rate(N minutes|hours|days)", expr)
}

type rate struct {
	anchor time.Time
	period time.Duration
}

func (r rate) Next(t time.Time) time.Time {
	if t.Before(r.anchor) {
		return r.anchor
	}
	k := t.Sub(r.anchor)/r.period + 1
	return r.anchor.Add(k * r.period)
}

func parseRate(body string, anchor time.Time) (Schedule, error) {
	f := strings.Fields(body)
	if len(f) != 2 {
		return nil, errorf("rate", "%q: expected a count and a unit, as in rate(5 minutes)", body)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 {
		return nil, errorf("rate", "%q: expected a whole number of 1 or more", f[0])
	}
	units := map[string]time.Duration{"minute": time.Minute, "minutes": time.Minute, "hour": time.Hour, "hours": time.Hour,
		"day": 24 * time.Hour, "days": 24 * time.Hour}
	unit, ok := units[f[1]]
	if !ok {
		return nil, errorf("rate", "unit %q: expected minute(s), hour(s) or day(s)", f[1])
	}
	const most = 100 * 365 * 24
	if n > most {
		return nil, errorf("rate", "%d %s is too long", n, f[1])
	}
	return rate{anchor: anchor.UTC(), period: time.Duration(n) * unit}, nil
}

var cronFields = []string{"minutes", "hours", "day-of-month", "month", "day-of-week", "year"}

// parser reads robfig's five fields; the expression is made in UTC.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

func parseCron(body string) (Schedule, error) {
	f := strings.Fields(body)
	if len(f) != len(cronFields) {
		return nil, errorf("cron", "%q has %d fields: expected 6 (minutes hours day-of-month month day-of-week year)", body, len(f))
	}
	for i, v := range f {
		if strings.Contains(v, "#") || strings.ContainsAny(strings.ToUpper(v), "LW") && !isName(i, v) {
			return nil, errorf(cronFields[i], "%q: L, W and # are not supported", v)
		}
		if v == "?" && i != 2 && i != 4 {
			return nil, errorf(cronFields[i], "? is only for day-of-month or day-of-week")
		}
	}
	if f[5] != "*" {
		return nil, errorf("year", "%q: only * is supported", f[5])
	}
	if (f[2] == "?") == (f[4] == "?") {
		return nil, errorf("day-of-week", "exactly one of day-of-month and day-of-week must be ?")
	}
	dow, err := shiftDays(f[4])
	if err != nil {
		return nil, err
	}
	s, err := parser.Parse("CRON_TZ=UTC " + strings.Join([]string{f[0], f[1], f[2], f[3], dow}, " "))
	if err != nil {
		return nil, errorf("cron", "%v", err)
	}
	return s, nil
}

// isName reports whether v is a month or day-of-week field made of names
// (JAN-MAR, MON,WED), whose letters may include L and W.
func isName(field int, v string) bool {
	if field != 3 && field != 4 {
		return false
	}
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '-' || r == '/' }) {
		if _, err := strconv.Atoi(part); err == nil {
			continue
		}
		if len(part) != 3 {
			return false
		}
	}
	return true
}

// shiftDays numbers a day-of-week field's days as robfig does, 0 (SUN) to
// 6 (SAT), from EventBridge's 1 to 7. Steps are counts, not days, and stay.
func shiftDays(v string) (string, error) {
	items := strings.Split(v, ",")
	for i, item := range items {
		base, step, hasStep := strings.Cut(item, "/")
		ends := strings.Split(base, "-")
		for j, e := range ends {
			n, err := strconv.Atoi(e)
			if err != nil {
				continue // *, ? or a name
			}
			if n < 1 || n > 7 {
				return "", errorf("day-of-week", "%d: expected 1 (SUN) to 7 (SAT)", n)
			}
			ends[j] = strconv.Itoa(n - 1)
		}
		items[i] = strings.Join(ends, "-")
		if hasStep {
			items[i] += "/" + step
		}
	}
	return strings.Join(items, ","), nil
}
