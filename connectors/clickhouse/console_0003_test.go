package clickhouse

import (
	"context"
	"fmt"
	"strings"
)

// reads0003 is the console as migration 0003 left it: FindEvents picked
// its candidates from webhook_events_by_{entity,event,received} and
// summarised them from webhook_events_by_event, one granule per event id
// and part. Kept in the tests as the middle column of BenchmarkConsoleWeek;
// every other read is the Store's.
type reads0003 struct{ *Store }

// FindEvents is Store.FindEvents before migration 0005.
func (r reads0003) FindEvents(ctx context.Context, q EventQuery) ([]EventSummary, error) {
	where := []string{"status = ?"}
	args := []any{"received"}
	if q.Status != "" {
		args[0] = q.Status
	}
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if q.EntityID != "" {
		add("entity_id = ?", q.EntityID)
	}
	if q.EventID != "" {
		add("event_id = ?", q.EventID)
	}
	if q.EventType != "" {
		add("event_type = ?", q.EventType)
	}
	if !q.Until.IsZero() {
		add("received_at < toDateTime(?, 'UTC')", q.Until.UTC().Unix())
	}
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	candidates := limit
	if q.Status != "" {
		candidates = 10 * limit // some will have moved on to another status
	}
	index := "webhook_events_by_received"
	switch {
	case q.EntityID != "":
		index = "webhook_events_by_entity"
	case q.EventID != "":
		index = "webhook_events_by_event"
	}
	since := q.Since
	if index == "webhook_events_by_received" {
		// A time range only: the newest candidates lie in the newest
		// window that holds enough of them.
		var err error
		if since, err = r.newestWindow(ctx, index, "received_at", where, args, q.Since, q.Until, candidates, ""); err != nil {
			return nil, Classify("find events", err)
		}
	}
	if !since.IsZero() {
		add("received_at >= toDateTime(?, 'UTC')", since.UTC().Unix())
	}
	sql := "SELECT event_id, any(event_type), any(entity_id), min(received_at), max(attempt), " +
		"argMax(status, " + latest + ") AS last_status, argMax(error, " + latest + "), count() " +
		"FROM webhook_events_by_event WHERE event_id IN (SELECT event_id FROM " + index + " WHERE " + strings.Join(where, " AND ") +
		fmt.Sprintf(" ORDER BY received_at DESC, event_id LIMIT %d) GROUP BY event_id", candidates)
	if q.Status != "" {
		sql += " HAVING last_status = ?"
		args = append(args, q.Status)
	}
	sql += fmt.Sprintf(" ORDER BY min(received_at) DESC, event_id LIMIT %d", limit)
	rows, err := r.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, Classify("find events", err)
	}
	defer rows.Close()
	var out []EventSummary
	for rows.Next() {
		var e EventSummary
		if err := rows.Scan(&e.EventID, &e.EventType, &e.EntityID, &e.ReceivedAt, &e.Attempts, &e.Status, &e.Error, &e.Rows); err != nil {
			return nil, Classify("find events", err)
		}
		out = append(out, e)
	}
	return out, Classify("find events", rows.Err())
}
