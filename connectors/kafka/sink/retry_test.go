package sink

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shopstream/shopstream/pipeline"
)

// TestSinkInsertPacesRetries: while the store is away the same rows are
// offered again with a backoff that grows to RetryMax, or at the slower
// pace the store asks for (a schema error: 30 s), and never given up on.
func TestSinkInsertPacesRetries(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		fails int
		want  time.Duration // fake time until the insert succeeds
	}{
		{"connection refused backs off to RetryMax", pipeline.Retryable(errors.New("connection refused"), 0), 6,
			250*time.Millisecond + 500*time.Millisecond + time.Second + 2*time.Second + 2*time.Second + 2*time.Second},
		{"schema error waits as asked", pipeline.Retryable(errors.New("unknown table"), 30*time.Second), 3, 90 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				calls := 0
				store := &sinkFakeStore{fail: func(call int, _ []pipeline.Outcome) error {
					calls++
					if call < tc.fails {
						return tc.err
					}
					return nil
				}}
				s := &Sink{cfg: Config{RetryMax: 2 * time.Second}, store: store, log: slog.New(slog.DiscardHandler), m: newMetrics(nil)}
				s.cfg.defaults()
				start := time.Now()
				rejected, err := s.insert(t.Context(), []pipeline.Outcome{sinkOutcome("a"), sinkOutcome("b")})
				if err != nil || len(rejected) != 0 {
					t.Fatalf("insert = %v, %v", rejected, err)
				}
				if got := time.Since(start); got != tc.want {
					t.Errorf("succeeded after %s of retries, want %s", got, tc.want)
				}
				if calls != tc.fails+1 || testutil.ToFloat64(s.m.fails) != float64(tc.fails) {
					t.Errorf("%d calls, %v failures counted; want %d and %d", calls, testutil.ToFloat64(s.m.fails), tc.fails+1, tc.fails)
				}
				if testutil.ToFloat64(s.m.rows) != 2 {
					t.Errorf("rows written = %v, want 2", testutil.ToFloat64(s.m.rows))
				}
			})
		})
	}
}

// TestSinkInsertStopsWhenCancelled: shutdown during an outage returns the
// context's error, so the runtime marks nothing.
func TestSinkInsertStopsWhenCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &sinkFakeStore{fail: func(int, []pipeline.Outcome) error {
			return pipeline.Retryable(errors.New("connection refused"), 0)
		}}
		s := &Sink{store: store, log: slog.New(slog.DiscardHandler), m: newMetrics(nil)}
		s.cfg.defaults()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err := s.insert(ctx, []pipeline.Outcome{sinkOutcome("a")})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("insert = %v, want the context's error", err)
		}
	})
}
