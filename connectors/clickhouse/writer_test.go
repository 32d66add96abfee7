package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/shopstream/shopstream/pipeline"
)

// TestInsertOutcomesRoundTrip checks that every Outcome field lands in its
// column, that an unset time becomes 0 rather than failing the batch, and
// that ingested_at comes from the injected clock.
func TestInsertOutcomesRoundTrip(t *testing.T) {
	ingest := time.Date(2025, 3, 2, 8, 0, 0, 0, time.UTC)
	s := migratedStore(t, WithClock(func() time.Time { return ingest }))
	ctx := t.Context()
	received := time.Date(2025, 3, 1, 10, 0, 1, 234_567_000, time.FixedZone("CET", 3600))
	in := pipeline.Outcome{
		EventID: "evt-1", EventType: "order.updated", EntityID: "42", Status: pipeline.StatusRetrying,
		Attempt: 2, Error: "inbox: 'quoted'\nnewline", ReceivedAt: received, ProcessedAt: time.Time{},
		ProcessingMs: 12.75, Topic: "evershop.order.retry.2s", Partition: 3, Offset: 1 << 40,
	}
	if err := s.InsertOutcomes(ctx, []pipeline.Outcome{in}); err != nil {
		t.Fatal(err)
	}
	var (
		id, typ, entity, status, errText, topic string
		attempt                                 uint32
		recAt, procAt, ingAt                    time.Time
		recMs, procMs, offset                   int64
		processing                              float64
		partition                               int32
	)
	err := s.Conn().QueryRow(ctx, "SELECT event_id, event_type, entity_id, status, attempt, error, received_at, received_at_ms, "+
		"processed_at, processed_at_ms, processing_ms, topic, `partition`, `offset`, ingested_at FROM webhook_events").
		Scan(&id, &typ, &entity, &status, &attempt, &errText, &recAt, &recMs, &procAt, &procMs, &processing, &topic, &partition, &offset, &ingAt)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(id, typ, entity, status, attempt, errText, recAt.UTC(), recMs, procAt.Unix(), procMs, processing, topic, partition, offset, ingAt.UTC())
	want := fmt.Sprint("evt-1", "order.updated", "42", "retrying", uint32(2), in.Error, time.Date(2025, 3, 1, 9, 0, 1, 0, time.UTC),
		received.UnixMilli(), int64(0), int64(0), 12.75, in.Topic, int32(3), int64(1<<40), ingest)
	if got != want {
		t.Errorf("stored row\n got %s\nwant %s", got, want)
	}
	if err := s.InsertOutcomes(ctx, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

// TestInsertErrorsAreClassified uses the real server for the three cases
// the sink must tell apart: ClickHouse away (retry), a schema it cannot
// write to (retry, slowly, until someone migrates) and a row it refuses
// (permanent: isolate and quarantine it).
func TestInsertErrorsAreClassified(t *testing.T) {
	batch := event("e", "order.created", time.Now(), 1, true)
	t.Run("schema missing holds the batch", func(t *testing.T) {
		s := newTestStore(t) // not migrated: no webhook_events
		err := s.InsertOutcomes(t.Context(), batch)
		if after, ok := pipeline.RetryAfter(err); !ok || after != schemaRetryAfter || pipeline.IsPermanent(err) {
			t.Fatalf("insert without table = %v, want retryable after %s", err, schemaRetryAfter)
		}
		if got := Reason(err); got != "unknown_table" {
			t.Errorf("Reason = %q, want unknown_table", got)
		}
	})
	t.Run("server gone is retryable", func(t *testing.T) {
		s := migratedStore(t)
		_ = s.Close() // as if the server went away under the pool
		err := s.InsertOutcomes(t.Context(), batch)
		var re *pipeline.RetryableError
		if !errors.As(err, &re) {
			t.Fatalf("insert on a closed pool = %v, want retryable", err)
		}
	})
	t.Run("refused connection is retryable", func(t *testing.T) {
		testDSN(t)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close() // nothing listens there any more
		_, err = Open(t.Context(), "clickhouse://"+addr+"/default?dial_timeout=2s")
		var re *pipeline.RetryableError
		if !errors.As(err, &re) {
			t.Fatalf("Open on a closed port = %v, want retryable", err)
		}
	})
	t.Run("a row the server refuses is permanent", func(t *testing.T) {
		s := poisonedStore(t)
		bad := batch[0]
		bad.EventID = poisonID
		err := s.InsertOutcomes(t.Context(), append(batch, bad))
		if !pipeline.IsPermanent(err) {
			t.Fatalf("insert with a poisoned row = %v, want permanent", err)
		}
		if got := Reason(err); got != "function_throw_if_value_is_non_zero" {
			t.Errorf("Reason = %q, want function_throw_if_value_is_non_zero", got)
		}
	})
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		want   string // "retryable", "held" (retryable after schemaRetryAfter), "permanent" or "plain"
		reason string
	}{
		{"unknown table", &ch.Exception{Code: 60, Message: "Table x doesn't exist"}, "held", "unknown_table"},
		{"no such column", &ch.Exception{Code: 16, Message: "No such column"}, "held", "no_such_column_in_table"},
		{"wrong password", &ch.Exception{Code: 516}, "held", "authentication_failed"},
		{"readonly user", &ch.Exception{Code: 164}, "held", "readonly"},
		{"type mismatch", fmt.Errorf("send: %w", &ch.Exception{Code: 53}), "permanent", "type_mismatch"},
		{"cannot parse", &ch.Exception{Code: 6}, "permanent", "cannot_parse_text"},
		{"string too large", &ch.Exception{Code: 131}, "permanent", "too_large_string_size"},
		{"unnamed code", &ch.Exception{Code: 4242}, "permanent", "clickhouse_4242"},
		{"too many partitions in one block", &ch.Exception{Code: 252, Message: "Too many partitions for single INSERT block (more than 100)."}, "permanent", "too_many_parts"},
		{"too many parts", &ch.Exception{Code: 252, Message: "Too many parts (300). Merges are processing significantly slower than inserts."}, "retryable", "too_many_parts"},
		{"memory limit", &ch.Exception{Code: 241}, "retryable", "memory_limit_exceeded"},
		{"disk full", &ch.Exception{Code: 243}, "retryable", "not_enough_space"},
		{"timeout", &ch.Exception{Code: 159}, "retryable", "timeout_exceeded"},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, "retryable", "rejected"},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), "retryable", "rejected"},
		{"deadline", context.DeadlineExceeded, "retryable", "rejected"},
		{"pool timeout", ch.ErrAcquireConnTimeout, "retryable", "rejected"},
		{"bad value", ch.ErrBatchInvalid, "permanent", "rejected"},
		{"row check", &RowError{Reason: "value_out_of_range", Err: errors.New("too late")}, "permanent", "value_out_of_range"},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), "plain", "rejected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Classify("op", tc.err)
			var re *pipeline.RetryableError
			got := "plain"
			switch {
			case errors.As(err, &re) && re.After == schemaRetryAfter:
				got = "held"
			case errors.As(err, &re):
				got = "retryable"
			case pipeline.IsPermanent(err):
				got = "permanent"
			}
			if got != tc.want {
				t.Errorf("Classify(%v) = %v (%s), want %s", tc.err, err, got, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("Classify lost the cause: %v", err)
			}
			if r := Reason(err); r != tc.reason {
				t.Errorf("Reason(%v) = %q, want %q", err, r, tc.reason)
			}
		})
	}
	if Classify("op", nil) != nil {
		t.Error("Classify(nil) != nil")
	}
}

func TestOpenRefusesHTTP(t *testing.T) {
	if _, err := Open(t.Context(), "http://127.0.0.1:8123/default"); err == nil {
		t.Fatal("Open accepted an HTTP DSN")
	}
}
