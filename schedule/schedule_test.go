package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNext(t *testing.T) {
	anchor := at("2026-01-01T10:00:30Z")
	for _, c := range []struct{ expr, after, want string }{
		{"rate(1 minute)", "2026-01-01T10:00:30Z", "2026-01-01T10:01:30Z"},
		{"rate(5 minutes)", "2026-01-01T10:07:00Z", "2026-01-01T10:10:30Z"},
		{"rate(2 hours)", "2026-01-01T09:00:00Z", "2026-01-01T10:00:30Z"},
		{"rate(1 day)", "2026-01-03T11:00:00Z", "2026-01-04T10:00:30Z"},
		{"cron(0 3 * * ? *)", "2026-01-01T10:00:00Z", "2026-01-02T03:00:00Z"},
		{"cron(*/15 * * * ? *)", "2026-01-01T10:07:00Z", "2026-01-01T10:15:00Z"},
		// 2026-01-01 is a Thursday; EventBridge's day 2 is Monday.
		{"cron(0 8 ? * 2 *)", "2026-01-01T10:00:00Z", "2026-01-05T08:00:00Z"},
		{"cron(0 8 ? * MON-FRI *)", "2026-01-02T09:00:00Z", "2026-01-05T08:00:00Z"},
		{"cron(0 8 ? * 7 *)", "2026-01-01T10:00:00Z", "2026-01-03T08:00:00Z"},
		{"cron(30 12 1 JAN,JUL ? *)", "2026-01-02T00:00:00Z", "2026-07-01T12:30:00Z"},
	} {
		s, err := Parse(c.expr, anchor)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got := s.Next(at(c.after)); !got.Equal(at(c.want)) {
			t.Errorf("%s after %s: %s, want %s", c.expr, c.after, got.Format(time.RFC3339), c.want)
		}
	}
}

func TestRefused(t *testing.T) {
	for _, c := range []struct{ expr, part, msg string }{
		{"every 5 minutes", "", "expected cron("},
		{"rate(0 minutes)", "rate", "1 or more"},
		{"rate(5 weeks)", "rate", "unit"},
		{"rate(5)", "rate", "count and a unit"},
		{"cron(0 3 * * *)", "cron", "expected 6"},
		{"cron(0 3 * * ? 2027)", "year", "only *"},
		{"cron(0 3 L * ? *)", "day-of-month", "L, W and #"},
		{"cron(0 3 ? * 2#1 *)", "day-of-week", "L, W and #"},
		{"cron(0 3 * * 2 *)", "day-of-week", "exactly one"},
		{"cron(0 3 ? * ? *)", "day-of-week", "exactly one"},
		{"cron(0 3 ? * 8 *)", "day-of-week", "1 (SUN) to 7 (SAT)"},
		{"cron(? 3 * * ? *)", "minutes", "only for day"},
		{"cron(61 3 * * ? *)", "cron", "61"},
	} {
		_, err := Parse(c.expr, time.Time{})
		var e *Error
		if !errors.As(err, &e) || e.Part != c.part || !strings.Contains(e.Message, c.msg) {
			t.Errorf("%s: %v, want part %q with %q", c.expr, err, c.part, c.msg)
		}
	}
}
