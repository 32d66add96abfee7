package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"golang.org/x/sync/errgroup"
)

// The console's reads of webhook_events. Every statement runs on
// ClickHouse 18.16: no {name:Type} parameters (clickhouse-go binds the ?
// placeholders on the client), no window functions, no tuple argMax.

// EventQuery selects events for the console's search. Empty fields match
// everything; Status is the event's latest status.
type EventQuery struct {
	EntityID, EventID, EventType, Status string
	Since, Until                         time.Time // received at; zero = open
	Limit                                int
}

// EventSummary is one event as the search lists it.
type EventSummary struct {
	EventID, EventType, EntityID string
	ReceivedAt                   time.Time
	Attempts                     uint32
	Status                       string // the latest outcome
	Error                        string // the latest outcome's error
	Rows                         uint64
}

// latest orders the outcomes of one event: by processed_at_ms, and at equal
// times a decision after the received row.
const latest = "processed_at_ms * 2 + (status != 'received')"

// FindEvents lists events matching q, newest received first. It first
// picks the newest matching rows (a top-N read, no aggregation over the
// range): received rows, or with a Status the rows of that status; then it
// summarises those events over all their rows and keeps, with a Status,
// those whose latest status it is. It reads without FINAL: rows are
// aggregated per event, so a re-delivered row changes nothing but Rows.
//
// Each step reads an index of migration 0003 sorted for it: the candidates
// come from webhook_events_by_entity (an entity id), webhook_events_by_event
// (an event id) or webhook_events_by_received (a time range, narrowed to
// the newest window holding enough rows, see newestWindow), and the summary
// from webhook_events_by_event. The indexes hold the same rows as
// webhook_events, so the result is what the same query on webhook_events
// returns (TestConsoleIndexesAgree).
func (s *Store) FindEvents(ctx context.Context, q EventQuery) ([]EventSummary, error) {
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
		if since, err = s.newestWindow(ctx, index, "received_at", where, args, q.Since, q.Until, candidates, ""); err != nil {
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
	rows, err := s.conn.Query(ctx, sql, args...)
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

// TimelineRow is one outcome of an event.
type TimelineRow struct {
	EventType    string // the same on every row of an event
	Status       string
	Attempt      uint32
	Error        string
	ReceivedAt   time.Time
	ProcessedAt  time.Time // millisecond precision
	ProcessingMs float64
	Topic        string
	Partition    int32
	Offset       int64
}

// Timeline returns every outcome of one event in the order they happened:
// received, each attempt with its error, the outcome. It reads
// webhook_events_by_event (sorted by event id). Rows the sink wrote twice
// are dropped here rather than with FINAL, which on 18.16 reads the whole
// table's sorting key to merge.
func (s *Store) Timeline(ctx context.Context, eventID string) ([]TimelineRow, error) {
	rows, err := s.conn.Query(ctx, "SELECT event_type, status, attempt, error, received_at, processed_at_ms, processing_ms, topic, `partition`, `offset` "+
		"FROM webhook_events_by_event WHERE event_id = ? ORDER BY "+latest+", attempt", eventID)
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

// Delivered returns which of ids have a completed outcome
// (webhook_events_by_event: one granule per id).
func (s *Store) Delivered(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	set := make([]any, len(ids))
	for i, id := range ids {
		set[i] = id
	}
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT event_id FROM webhook_events_by_event WHERE status = 'completed' AND event_id IN ?", ch.GroupSet{Value: set})
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

// Overview is the last hour of the pipeline as the console's first page
// shows it.
type Overview struct {
	From, To      time.Time
	PerMinute     []MinuteCount // accepted (received rows) per minute and source topic
	ByStatus      []StatusCount
	Terminal      uint64
	Completed     uint64
	SuccessRate   float64 // Completed / Terminal; 0 when Terminal is 0
	P50Ms, P99Ms  float64 // processing time of terminal outcomes
	CatalogSyncs  []CatalogSyncRow
	TotalAccepted uint64
}

// MinuteCount is how many events one endpoint accepted in one minute.
type MinuteCount struct {
	Minute   time.Time
	Endpoint string // the source topic: evershop.order, ...
	Count    uint64
}

// StatusCount is how many outcomes had one status.
type StatusCount struct {
	Status string
	Count  uint64
}

// CatalogSyncRow is one catalog regeneration as its covered product events
// record it: they share the sync's end time and duration.
type CatalogSyncRow struct {
	At         time.Time
	Status     string // completed or dead
	Events     uint64 // product events coalesced
	DurationMs float64
	Error      string
}

const terminalStatuses = "('completed', 'dead', 'duplicate', 'superseded', 'skipped')"

// outcomeKey is the table's sorting key less what a query groups by: the
// overview counts distinct outcomes (uniqExact over it) instead of reading
// with FINAL, so a re-delivered row not merged yet is not counted twice.
const outcomeKey = "event_id, attempt, topic, `partition`, `offset`"

// LoadOverview reads the hour before now, from the time-sorted indexes of
// migration 0003: accepted per minute from webhook_events_by_received, the
// rest from webhook_events_by_processed, so each reads the hour and not the
// week. Its four queries run at once.
func (s *Store) LoadOverview(ctx context.Context, now time.Time) (Overview, error) {
	o := Overview{From: now.Add(-time.Hour).UTC(), To: now.UTC()}
	from, to := o.From.Unix(), o.To.Unix()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		rows, err := s.conn.Query(gctx, "SELECT toStartOfMinute(received_at) AS m, topic, uniqExact("+outcomeKey+") FROM webhook_events_by_received "+
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
		rows, err := s.conn.Query(gctx, "SELECT status, uniqExact("+outcomeKey+") FROM webhook_events_by_processed "+
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
		row := s.conn.QueryRow(gctx, "SELECT uniqExact(status, "+outcomeKey+"), uniqExactIf(status, "+outcomeKey+", status = 'completed'), "+
			"if(count() = 0, 0, quantile(0.5)(processing_ms)), if(count() = 0, 0, quantile(0.99)(processing_ms)) FROM webhook_events_by_processed "+
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
		o.CatalogSyncs, err = s.CatalogSyncs(gctx, now.Add(-7*24*time.Hour), 10)
		return err
	})
	err := g.Wait()
	return o, err
}

// CatalogSyncs lists the last catalog regenerations since since, newest
// first, from the outcomes of the product events each one covered. It reads
// webhook_events_by_processed from the newest window that holds limit
// syncs (newestWindow), not from since.
func (s *Store) CatalogSyncs(ctx context.Context, since time.Time, limit int) ([]CatalogSyncRow, error) {
	where := []string{"event_type LIKE 'product.%'", "status IN ('completed', 'dead')"}
	from, err := s.newestWindow(ctx, "webhook_events_by_processed", "processed_at", where, nil, since, time.Time{},
		limit, "uniqExact(processed_at_ms, status)")
	if err != nil {
		return nil, Classify("catalog syncs", err)
	}
	rows, err := s.conn.Query(ctx, "SELECT processed_at_ms, status, uniqExact("+outcomeKey+"), max(processing_ms), any(error) FROM webhook_events_by_processed "+
		"WHERE "+strings.Join(where, " AND ")+" AND processed_at >= toDateTime(?, 'UTC') "+
		"GROUP BY processed_at_ms, status ORDER BY processed_at_ms DESC, status LIMIT "+fmt.Sprint(limit), from.UTC().Unix())
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
