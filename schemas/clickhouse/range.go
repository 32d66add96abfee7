package chschema

import (
	"fmt"
	"regexp"
	"time"
)

// Range is the window of received_at an analyst query covers: From
// inclusive, To exclusive, both at second precision (received_at is a
// DateTime). A zero bound keeps the query's checked-in default (From: seven
// days ago, To: now).
type Range struct {
	From, To time.Time
}

// ClickHouse 18.16 has no query parameters ({from:DateTime} came in 19.x),
// and analysts paste the files into clickhouse-client, so each query names
// its bounds once, in a WITH clause on lines of their own:
//
//	WITH
//	    now() - INTERVAL 7 DAY AS range_from,
//	    now() AS range_to
//
// BindRange swaps the expression on those lines for a literal. A WITH alias
// is not visible inside subqueries on 18.16, so the WITH sits on the SELECT
// that reads webhook_events.
var (
	fromLine = regexp.MustCompile(`(?m)^([ \t]*)(\S.*?)([ \t]+AS[ \t]+range_from\b.*)$`)
	toLine   = regexp.MustCompile(`(?m)^([ \t]*)(\S.*?)([ \t]+AS[ \t]+range_to\b.*)$`)
)

// BindRange returns query with its range_from / range_to expressions
// replaced by r's bounds as UTC DateTime literals. It fails when query does
// not follow the convention above, rather than silently running over the
// default window.
func BindRange(query string, r Range) (string, error) {
	if !r.From.IsZero() && !r.To.IsZero() && !r.From.Before(r.To) {
		return "", fmt.Errorf("range: from %s is not before to %s", r.From, r.To)
	}
	var err error
	if query, err = bindLine(query, fromLine, "range_from", r.From); err != nil {
		return "", err
	}
	return bindLine(query, toLine, "range_to", r.To)
}

func bindLine(query string, re *regexp.Regexp, alias string, t time.Time) (string, error) {
	if n := len(re.FindAllStringIndex(query, -1)); n != 1 {
		return "", fmt.Errorf("query defines %s on %d lines, want exactly 1", alias, n)
	}
	if t.IsZero() {
		return query, nil
	}
	return re.ReplaceAllString(query, "${1}"+DateTimeLiteral(t)+"${3}"), nil
}

// DateTimeLiteral renders t as a ClickHouse DateTime literal in UTC,
// truncated to the second, in a form both 18.16 and current releases parse.
func DateTimeLiteral(t time.Time) string {
	return "toDateTime('" + t.UTC().Format(time.DateTime) + "', 'UTC')"
}
