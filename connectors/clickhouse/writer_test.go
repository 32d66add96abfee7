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

// TestInsertErrorsAreClassified uses the real server for the two cases the
// sink must tell apart: ClickHouse away (retry) and a schema it cannot
// write to (permanent).
func TestInsertErrorsAreClassified(t *testing.T) {
	batch := event("e", "order.created", time.Now(), 1, true)
	t.Run("schema missing is permanent", func(t *testing.T) {
		s := newTestStore(t) // not migrated: no webhook_events
		err := s.InsertOutcomes(t.Context(), batch)
		if !pipeline.IsPermanent(err) {
			t.Fatalf("insert without table = %v, want permanent", err)
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
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string // "retryable", "permanent" or "plain"
	}{
		{"unknown table", &ch.Exception{Code: 60, Message: "Table x doesn't exist"}, "permanent"},
		{"no such column", &ch.Exception{Code: 16, Message: "No such column"}, "permanent"},
		{"type mismatch", fmt.Errorf("send: %w", &ch.Exception{Code: 53}), "permanent"},
		{"too many parts", &ch.Exception{Code: 252}, "retryable"},
		{"memory limit", &ch.Exception{Code: 241}, "retryable"},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, "retryable"},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), "retryable"},
		{"deadline", context.DeadlineExceeded, "retryable"},
		{"pool timeout", ch.ErrAcquireConnTimeout, "retryable"},
		{"bad value", ch.ErrBatchInvalid, "permanent"},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), "plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Classify("op", tc.err)
			var re *pipeline.RetryableError
			got := "plain"
			switch {
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
