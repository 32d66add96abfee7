package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"golang.org/x/sync/errgroup"
)

// The console's queries as they were before migration 0003 (straight off
// webhook_events), kept in the tests as the reference the indexed queries
// must agree with, and as the "before" of BenchmarkConsoleWeek. One change:
// catalog syncs ending in the same millisecond (a sync's completed and dead
// outcomes) are ordered by status, in both, where the order was arbitrary.
type legacyConsole struct{ s *Store }

// FindEvents lists events matching q, newest received first. It first
// picks the newest matching rows (a top-N read, no aggregation over the
// range): received rows, or with a Status the rows of that status; then it
// summarises those events over all their rows and keeps, with a Status,
// those whose latest status it is. It reads without FINAL: rows are
// aggregated per event, so a re-delivered row changes nothing but Rows.
func (l legacyConsole) FindEvents(ctx context.Context, q EventQuery) ([]EventSummary, error) {
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
	if !q.Since.IsZero() {
		add("received_at >= toDateTime(?, 'UTC')", q.Since.UTC().Unix())
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
	sql := "SELECT event_id, any(event_type), any(entity_id), min(received_at), max(attempt), " +
		"argMax(status, " + latest + ") AS last_status, argMax(error, " + latest + "), count() " +
		"FROM webhook_events WHERE event_id IN (SELECT event_id FROM webhook_events WHERE " + strings.Join(where, " AND ") +
		fmt.Sprintf(" ORDER BY received_at DESC, event_id LIMIT %d) GROUP BY event_id", candidates)
	if q.Status != "" {
		sql += " HAVING last_status = ?"
		args = append(args, q.Status)
	}
	sql += fmt.Sprintf(" ORDER BY min(received_at) DESC, event_id LIMIT %d", limit)
	rows, err := l.s.conn.Query(ctx, sql, args...)
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

// LoadOverview reads the hour before now. Its four queries run at once:
// each scans the week's time columns, so the page waits for the slowest,
// not for the sum.
func (l legacyConsole) LoadOverview(ctx context.Context, now time.Time) (Overview, error) {
	o := Overview{From: now.Add(-time.Hour).UTC(), To: now.UTC()}
	from, to := o.From.Unix(), o.To.Unix()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		rows, err := l.s.conn.Query(gctx, "SELECT toStartOfMinute(received_at) AS m, topic, uniqExact("+outcomeKey+") FROM webhook_events "+
			"WHERE status = 'received' AND received_at >= toDateTime(?, 'UTC') AND received_at < toDateTime(?, 'UTC') "+
			"GROUP BY m, topic ORDER BY m, topic", from, to)
		if err != nil {
			return Classify("overview per minute", err)
		}
		defer rows.Close()
		for rows.Next() {
			var m MinuteCount
			if err := rows.Scan(&m.Minute, &m.Endpoint, &m.Count); err != nil {
				return Classify("overview per minute", err)
			}
			o.TotalAccepted += m.Count
			o.PerMinute = append(o.PerMinute, m)
		}
		return Classify("overview per minute", rows.Err())
	})
	g.Go(func() error {
		rows, err := l.s.conn.Query(gctx, "SELECT status, uniqExact("+outcomeKey+") FROM webhook_events "+
			"WHERE processed_at >= toDateTime(?, 'UTC') AND processed_at < toDateTime(?, 'UTC') GROUP BY status ORDER BY status", from, to)
		if err != nil {
			return Classify("overview statuses", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c StatusCount
			if err := rows.Scan(&c.Status, &c.Count); err != nil {
				return Classify("overview statuses", err)
			}
			o.ByStatus = append(o.ByStatus, c)
		}
		return Classify("overview statuses", rows.Err())
	})
	g.Go(func() error {
		row := l.s.conn.QueryRow(gctx, "SELECT uniqExact(status, "+outcomeKey+"), uniqExactIf(status, "+outcomeKey+", status = 'completed'), "+
			"if(count() = 0, 0, quantile(0.5)(processing_ms)), if(count() = 0, 0, quantile(0.99)(processing_ms)) FROM webhook_events "+
			"WHERE status IN "+terminalStatuses+" AND processed_at >= toDateTime(?, 'UTC') AND processed_at < toDateTime(?, 'UTC')", from, to)
		if err := row.Scan(&o.Terminal, &o.Completed, &o.P50Ms, &o.P99Ms); err != nil {
			return Classify("overview rates", err)
		}
		if o.Terminal > 0 {
			o.SuccessRate = float64(o.Completed) / float64(o.Terminal)
		}
		return nil
	})
	g.Go(func() error {
		var err error
		o.CatalogSyncs, err = l.CatalogSyncs(gctx, now.Add(-7*24*time.Hour), 10)
		return err
	})
	err := g.Wait()
	return o, err
}

// CatalogSyncs lists the last catalog regenerations since since, newest
// first, from the outcomes of the product events each one covered.
func (l legacyConsole) CatalogSyncs(ctx context.Context, since time.Time, limit int) ([]CatalogSyncRow, error) {
	rows, err := l.s.conn.Query(ctx, "SELECT processed_at_ms, status, uniqExact("+outcomeKey+"), max(processing_ms), any(error) FROM webhook_events "+
		"WHERE event_type LIKE 'product.%' AND status IN ('completed', 'dead') AND processed_at >= toDateTime(?, 'UTC') "+
		"GROUP BY processed_at_ms, status ORDER BY processed_at_ms DESC, status LIMIT "+fmt.Sprint(limit), since.UTC().Unix())
	if err != nil {
		return nil, Classify("catalog syncs", err)
	}
	defer rows.Close()
	var out []CatalogSyncRow
	for rows.Next() {
		var c CatalogSyncRow
		var ms int64
		if err := rows.Scan(&ms, &c.Status, &c.Events, &c.DurationMs, &c.Error); err != nil {
			return nil, Classify("catalog syncs", err)
		}
		c.At = time.UnixMilli(ms).UTC()
		out = append(out, c)
	}
	return out, Classify("catalog syncs", rows.Err())
}

// Timeline returns every outcome of one event in the order they happened:
// received, each attempt with its error, the outcome. Rows the sink wrote
// twice are dropped here rather than with FINAL, which on 18.16 reads the
// whole table's sorting key to merge.
func (l legacyConsole) Timeline(ctx context.Context, eventID string) ([]TimelineRow, error) {
	rows, err := l.s.conn.Query(ctx, "SELECT event_type, status, attempt, error, received_at, processed_at_ms, processing_ms, topic, `partition`, `offset` "+
		"FROM webhook_events WHERE event_id = ? ORDER BY "+latest+", attempt", eventID)
	if err != nil {
		return nil, Classify("timeline", err)
	}
	defer rows.Close()
	var out []TimelineRow
	type key struct {
		status, topic string
		attempt       uint32
		partition     int32
		offset        int64
	}
	seen := map[key]bool{}
	for rows.Next() {
		var r TimelineRow
		var ms int64
		if err := rows.Scan(&r.EventType, &r.Status, &r.Attempt, &r.Error, &r.ReceivedAt, &ms, &r.ProcessingMs, &r.Topic, &r.Partition, &r.Offset); err != nil {
			return nil, Classify("timeline", err)
		}
		k := key{r.Status, r.Topic, r.Attempt, r.Partition, r.Offset}
		if seen[k] {
			continue // written twice, not merged yet
		}
		seen[k] = true
		r.ProcessedAt = time.UnixMilli(ms).UTC()
		out = append(out, r)
	}
	return out, Classify("timeline", rows.Err())
}

// Delivered returns which of ids have a completed outcome.
func (l legacyConsole) Delivered(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	set := make([]any, len(ids))
	for i, id := range ids {
		set[i] = id
	}
	rows, err := l.s.conn.Query(ctx, "SELECT DISTINCT event_id FROM webhook_events WHERE status = 'completed' AND event_id IN ?", ch.GroupSet{Value: set})
	if err != nil {
		return nil, Classify("delivered", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, Classify("delivered", err)
		}
		out[id] = true
	}
	return out, Classify("delivered", rows.Err())
}
