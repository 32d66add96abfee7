package pipeline

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ReplayFilter selects dead letters to put back into the flow. Empty fields
// match everything.
type ReplayFilter struct {
	EventTypes []string
	EventIDs   []string
	Since      time.Time // failed at or after
	Until      time.Time // failed before
	// ErrorContains keeps dead letters whose error contains it
	// (case-insensitive); MinAttempts those that took at least that many
	// attempts. The console filters on both; the command line does not.
	ErrorContains string
	MinAttempts   int
}

// ParseReplayFilter reads the replay command's flags. Times are RFC 3339 or
// a duration back from now ("2h" = the last two hours).
func ParseReplayFilter(eventTypes, eventIDs, since, until string, now time.Time) (ReplayFilter, error) {
	var f ReplayFilter
	for _, t := range SplitList(eventTypes) {
		if _, ok := KindOf(t); !ok && t != AlertDeliveryType {
			return f, fmt.Errorf("--event-type: unknown event type %q", t)
		}
		f.EventTypes = append(f.EventTypes, t)
	}
	f.EventIDs = SplitList(eventIDs)
	var err error
	if f.Since, err = parseWhen(since, now); err != nil {
		return f, fmt.Errorf("--since: %w", err)
	}
	if f.Until, err = parseWhen(until, now); err != nil {
		return f, fmt.Errorf("--until: %w", err)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, fmt.Errorf("--since %s is not before --until %s", since, until)
	}
	return f, nil
}

// Match reports whether a dead letter passes the filter.
func (f ReplayFilter) Match(eventType, eventID string, failedAt time.Time) bool {
	return f.MatchDeadLetter(DeadLetterFacts{EventType: eventType, EventID: eventID, FailedAt: failedAt})
}

// DeadLetterFacts is what a filter looks at in a dead letter (its headers).
type DeadLetterFacts struct {
	EventType, EventID, Error string
	Attempts                  int
	FailedAt                  time.Time
}

// MatchDeadLetter reports whether a dead letter passes every field of the
// filter, the error text and attempt count included.
func (f ReplayFilter) MatchDeadLetter(d DeadLetterFacts) bool {
	eventType, eventID, failedAt := d.EventType, d.EventID, d.FailedAt
	if f.ErrorContains != "" && !strings.Contains(strings.ToLower(d.Error), strings.ToLower(f.ErrorContains)) {
		return false
	}
	if f.MinAttempts > 0 && d.Attempts < f.MinAttempts {
		return false
	}
	if len(f.EventTypes) > 0 && !slices.Contains(f.EventTypes, eventType) {
		return false
	}
	if len(f.EventIDs) > 0 && !slices.Contains(f.EventIDs, eventID) {
		return false
	}
	if !f.Since.IsZero() && failedAt.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !failedAt.Before(f.Until) {
		return false
	}
	return true
}

// SplitList splits a comma-separated list, trimming blanks and dropping
// empty items ("a, ,b" → [a b]); configuration and flags use it.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor a duration like 2h", s)
}

// ParseWhen reads one end of a time range as the replay flags and the
// console take it: RFC 3339, or a duration back from now ("2h"); "" is no
// bound (the zero time).
func ParseWhen(s string, now time.Time) (time.Time, error) { return parseWhen(s, now) }
