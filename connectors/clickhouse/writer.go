package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// insertOutcomes names every column: clickhouse-go talks to ClickHouse
// 18.16 over the native protocol only when an INSERT lists its columns, and
// a list keeps the insert independent of the table's column order. The
// order here is the order of the slices appended in InsertOutcomes.
const insertOutcomes = "INSERT INTO webhook_events (event_id, event_type, entity_id, status, attempt, error, " +
	"received_at, received_at_ms, processed_at, processed_at_ms, processing_ms, topic, `partition`, `offset`, ingested_at, " +
	"alert_trigger, alert_old, alert_new, message)"

// maxDateTime is the last second a DateTime column holds (a UInt32 count of
// seconds since 1970): later instants would silently wrap around.
var maxDateTime = time.Unix(1<<32-1, 0)

// WriteOutcomes writes outcomes to webhook_events and never lets a bad row
// hold the others back: rows ClickHouse refuses for good are found by
// bisecting the batch (Isolate) and returned in rejected, keyed by index,
// each as a *RowError whose Reason labels it, and every other row is
// written. err is set, and rejected nil, only when the batch must be
// retried as a whole (ClickHouse away or not set up, see Classify) or ctx
// ended; rows written before then are written again by the retry and
// collapse in the table.
func (s *Store) WriteOutcomes(ctx context.Context, outcomes []pipeline.Outcome) (rejected map[int]error, err error) {
	rejected, err = Isolate(ctx, outcomes, s.InsertOutcomes)
	for i, e := range rejected {
		var row *RowError
		if !errors.As(e, &row) {
			rejected[i] = &RowError{Reason: Reason(e), Err: e}
		}
	}
	return rejected, err
}

// InsertOutcomes writes outcomes to webhook_events as one batch (one
// INSERT, one part). Writing the same outcomes again is harmless: rows with
// the same key collapse (see migrations/0001_webhook_events.sql), which is
// what lets the at-least-once sink re-deliver a batch after a failure.
// Errors are classified (see Classify); on error nothing is reported as
// written and the whole batch should be retried, or, when the error is
// permanent, split (WriteOutcomes). A row whose values its columns cannot
// hold fails the batch with a permanent RowError before anything is sent.
func (s *Store) InsertOutcomes(ctx context.Context, outcomes []pipeline.Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	for i, o := range outcomes {
		if err := checkOutcome(o); err != nil {
			return Classify(fmt.Sprintf("row %d (event %s)", i, o.EventID), err)
		}
	}
	n := len(outcomes)
	var (
		eventID, eventType, entityID = make([]string, n), make([]string, n), make([]string, n)
		status, errText, topic       = make([]string, n), make([]string, n), make([]string, n)
		attempt                      = make([]uint32, n)
		receivedAt, processedAt      = make([]time.Time, n), make([]time.Time, n)
		receivedMs, processedMs      = make([]int64, n), make([]int64, n)
		processing                   = make([]float64, n)
		partition                    = make([]int32, n)
		offset                       = make([]int64, n)
		ingestedAt                   = make([]time.Time, n)
		alertTrigger, alertOld       = make([]string, n), make([]string, n)
		alertNew, message            = make([]string, n), make([]string, n)
	)
	ingested := s.now().UTC().Truncate(time.Second)
	for i, o := range outcomes {
		eventID[i], eventType[i], entityID[i] = o.EventID, o.EventType, o.EntityID
		status[i], errText[i], topic[i] = string(o.Status), o.Error, o.Topic
		attempt[i] = uint32(max(o.Attempt, 0))
		receivedAt[i], receivedMs[i] = splitTime(o.ReceivedAt)
		processedAt[i], processedMs[i] = splitTime(o.ProcessedAt)
		processing[i] = o.ProcessingMs
		partition[i], offset[i] = o.Partition, o.Offset
		ingestedAt[i] = ingested
		alertTrigger[i], alertOld[i], alertNew[i] = o.AlertTrigger, o.AlertOld, o.AlertNew
		message[i] = o.Message
	}

	batch, err := s.conn.PrepareBatch(ctx, insertOutcomes)
	if err != nil {
		return Classify("prepare insert", err)
	}
	// Abort releases the connection if an Append fails; after Send it is a
	// no-op that reports ErrBatchAlreadySent, which is ignored.
	defer func() { _ = batch.Abort() }()
	columns := []any{eventID, eventType, entityID, status, attempt, errText,
		receivedAt, receivedMs, processedAt, processedMs, processing, topic, partition, offset, ingestedAt,
		alertTrigger, alertOld, alertNew, message}
	for i, values := range columns {
		if err := batch.Column(i).Append(values); err != nil {
			return Classify(fmt.Sprintf("append column %d", i), err)
		}
	}
	if err := batch.Send(); err != nil {
		return Classify(fmt.Sprintf("insert %d outcomes", n), err)
	}
	return nil
}

// splitTime gives the DateTime and unix-millisecond forms of t. DateTime is
// an unsigned count of seconds since 1970, so an unset (zero) time, which
// would underflow it, is stored as the epoch: 0 in both columns, which the
// queries treat as "unknown".
func splitTime(t time.Time) (time.Time, int64) {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return time.Unix(0, 0).UTC(), 0
	}
	ms := t.UnixMilli()
	return time.UnixMilli(ms).UTC(), ms
}

// checkOutcome refuses values that a column would store wrongly rather than
// reject: a time after 2106 wraps around in DateTime.
func checkOutcome(o pipeline.Outcome) error {
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"received_at", o.ReceivedAt}, {"processed_at", o.ProcessedAt}} {
		if t.at.After(maxDateTime) {
			return &RowError{Reason: "value_out_of_range", Err: fmt.Errorf("%s %s is after the last DateTime (%s)",
				t.name, t.at.UTC().Format(time.RFC3339), maxDateTime.UTC().Format(time.RFC3339))}
		}
	}
	return nil
}
