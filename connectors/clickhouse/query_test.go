package clickhouse

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
	chschema "github.com/shopstream/shopstream/schemas/clickhouse"
)

// r builds an expected row from alternating column names and values.
func r(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// wantFigures are the exact results of every analyst query over
// knownOutcomes and 2025-03-01, worked out by hand in dataset_test.go's
// terms. quantileExact(0.95) over n values is the sorted value at index
// floor(0.95*n): the 39th of 40 for customer.created at 10:00 (an
// approximate quantile would interpolate to 38.05), the maximum for the
// small groups.
var wantFigures = map[string][]map[string]any{
	// No alert rows in knownOutcomes: the alert queries find nothing in
	// other rows (alert_query_test.go has their own figures).
	"alerts_per_day":       {},
	"out_of_stock_longest": {},
	"success_rate": {
		r("event_type", "customer.created", "hour", h10, "received", 40, "terminal", 40, "completed", 40, "dead", 0, "duplicate", 0, "superseded", 0, "skipped", 0, "success_rate", 1.0),
		r("event_type", "customer.created", "hour", h11, "received", 2, "terminal", 2, "completed", 1, "dead", 0, "duplicate", 0, "superseded", 0, "skipped", 1, "success_rate", 0.5),
		r("event_type", "order.updated", "hour", h10, "received", 6, "terminal", 5, "completed", 2, "dead", 1, "duplicate", 1, "superseded", 1, "skipped", 0, "success_rate", 0.4),
		r("event_type", "order.updated", "hour", h11, "received", 2, "terminal", 2, "completed", 1, "dead", 0, "duplicate", 1, "superseded", 0, "skipped", 0, "success_rate", 0.5),
		r("event_type", "product.updated", "hour", h10, "received", 8, "terminal", 8, "completed", 0, "dead", 8, "duplicate", 0, "superseded", 0, "skipped", 0, "success_rate", 0.0),
	},
	"processing_time": {
		r("event_type", "customer.created", "hour", h10, "attempts", 40, "avg_ms", 20.5, "p95_ms", 39.0, "max_ms", 40.0),
		r("event_type", "customer.created", "hour", h11, "attempts", 2, "avg_ms", 5.0, "p95_ms", 8.0, "max_ms", 8.0),
		r("event_type", "order.updated", "hour", h10, "attempts", 7, "avg_ms", 395.0/7, "p95_ms", 200.0, "max_ms", 200.0),
		r("event_type", "order.updated", "hour", h11, "attempts", 2, "avg_ms", 50.5, "p95_ms", 100.0, "max_ms", 100.0),
		r("event_type", "product.updated", "hour", h10, "attempts", 8, "avg_ms", 10.0, "p95_ms", 10.0, "max_ms", 10.0),
	},
	"retry_rate": {
		r("event_type", "customer.created", "hour", h10, "attempts", 40, "retries", 0, "retry_rate", 0.0, "events", 40, "retried_events", 0),
		r("event_type", "customer.created", "hour", h11, "attempts", 2, "retries", 0, "retry_rate", 0.0, "events", 2, "retried_events", 0),
		r("event_type", "order.updated", "hour", h10, "attempts", 7, "retries", 2, "retry_rate", 2.0/7, "events", 5, "retried_events", 1),
		r("event_type", "order.updated", "hour", h11, "attempts", 2, "retries", 0, "retry_rate", 0.0, "events", 1, "retried_events", 0),
		r("event_type", "product.updated", "hour", h10, "attempts", 8, "retries", 0, "retry_rate", 0.0, "events", 8, "retried_events", 0),
	},
	"dlq_count": {
		r("event_type", "customer.created", "hour", h10, "dead", 0, "dead_events", 0),
		r("event_type", "customer.created", "hour", h11, "dead", 0, "dead_events", 0),
		r("event_type", "order.updated", "hour", h10, "dead", 1, "dead_events", 1),
		r("event_type", "order.updated", "hour", h11, "dead", 0, "dead_events", 0),
		r("event_type", "product.updated", "hour", h10, "dead", 8, "dead_events", 8),
	},
	"queue_time": {
		r("event_type", "customer.created", "hour", h10, "events", 40, "avg_queue_ms", 10.0, "p95_queue_ms", 10.0, "max_queue_ms", 10.0, "avg_first_outcome_ms", 30.5),
		r("event_type", "customer.created", "hour", h11, "events", 2, "avg_queue_ms", 25.0, "p95_queue_ms", 30.0, "max_queue_ms", 30.0, "avg_first_outcome_ms", 30.0),
		r("event_type", "order.updated", "hour", h10, "events", 5, "avg_queue_ms", 350.2, "p95_queue_ms", 1000.0, "max_queue_ms", 1000.0, "avg_first_outcome_ms", 409.2),
		r("event_type", "order.updated", "hour", h11, "events", 1, "avg_queue_ms", 200.0, "p95_queue_ms", 200.0, "max_queue_ms", 200.0, "avg_first_outcome_ms", 300.0),
		r("event_type", "product.updated", "hour", h10, "events", 8, "avg_queue_ms", 500.0, "p95_queue_ms", 500.0, "max_queue_ms", 500.0, "avg_first_outcome_ms", 510.0),
	},
	"top_errors": {
		r("event_type", "order.updated", "hour", h10, "error", "inbox: 503 Service Unavailable", "outcomes", 2, "dead", 0, "events", 1),
		r("event_type", "order.updated", "hour", h10, "error", "inbox: 400 invalid conversation", "outcomes", 1, "dead", 1, "events", 1),
		r("event_type", "product.updated", "hour", h10, "error", "coze: E1", "outcomes", 3, "dead", 3, "events", 3),
		r("event_type", "product.updated", "hour", h10, "error", "coze: E2", "outcomes", 1, "dead", 1, "events", 1),
		r("event_type", "product.updated", "hour", h10, "error", "coze: E3", "outcomes", 1, "dead", 1, "events", 1),
		r("event_type", "product.updated", "hour", h10, "error", "coze: E4", "outcomes", 1, "dead", 1, "events", 1),
		r("event_type", "product.updated", "hour", h10, "error", "coze: E5", "outcomes", 1, "dead", 1, "events", 1),
	},
}

// TestAnalystQueries loads the fixture the way an at-least-once sink
// would — the whole batch twice, then an overlapping slice of it — and
// checks every query's exact figures before and after ClickHouse merges
// the duplicates away.
func TestAnalystQueries(t *testing.T) {
	s := migratedStore(t)
	ctx := t.Context()
	outcomes := knownOutcomes()
	for _, batch := range [][]pipeline.Outcome{outcomes, outcomes, outcomes[5:20]} {
		if err := s.InsertOutcomes(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	stored := 2*len(outcomes) + 15
	if got := count(t, s, "SELECT count() FROM webhook_events"); got != uint64(stored) {
		t.Fatalf("raw rows = %d, want %d (a merge already ran? the test would prove less)", got, stored)
	}
	if got := count(t, s, "SELECT count() FROM webhook_events FINAL"); got != uint64(len(outcomes)) {
		t.Fatalf("rows under FINAL = %d, want %d", got, len(outcomes))
	}
	checkFigures(t, s)

	if err := s.Conn().Exec(ctx, "OPTIMIZE TABLE webhook_events FINAL"); err != nil {
		t.Fatal(err)
	}
	if got := count(t, s, "SELECT count() FROM webhook_events"); got != uint64(len(outcomes)) {
		t.Fatalf("rows after OPTIMIZE FINAL = %d, want %d", got, len(outcomes))
	}
	t.Run("after merge", func(t *testing.T) { checkFigures(t, s) })
}

func checkFigures(t *testing.T, s *Store) {
	t.Helper()
	rng := chschema.Range{From: day, To: day.Add(24 * time.Hour)}
	for _, name := range chschema.QueryNames() {
		t.Run(name, func(t *testing.T) {
			want, ok := wantFigures[name]
			if !ok {
				t.Fatalf("no expected figures for query %s", name)
			}
			res, err := s.RunQuery(t.Context(), name, rng)
			if err != nil {
				t.Fatal(err)
			}
			got := res.Maps()
			if len(got) != len(want) {
				t.Fatalf("%d rows, want %d:\n%v", len(got), len(want), got)
			}
			for i := range want {
				if diff := rowDiff(got[i], want[i]); diff != "" {
					t.Errorf("row %d: %s\n got %v\nwant %v", i, diff, got[i], want[i])
				}
			}
		})
	}
}

// rowDiff compares a result row with an expected one: same columns, equal
// strings and times, numbers equal within float rounding.
func rowDiff(got, want map[string]any) string {
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(got) != len(want) {
		return fmt.Sprintf("columns %v, want %d columns", keys, len(want))
	}
	for _, k := range keys {
		g, w := got[k], want[k]
		if wt, ok := w.(time.Time); ok {
			if gt, ok := g.(time.Time); !ok || !gt.Equal(wt) {
				return fmt.Sprintf("%s = %v, want %v", k, g, w)
			}
			continue
		}
		gf, gNum := number(g)
		wf, wNum := number(w)
		switch {
		case gNum && wNum:
			if math.Abs(gf-wf) > 1e-9*math.Max(1, math.Abs(wf)) {
				return fmt.Sprintf("%s = %v, want %v", k, g, w)
			}
		case !reflect.DeepEqual(g, w):
			return fmt.Sprintf("%s = %#v, want %#v", k, g, w)
		}
	}
	return ""
}

func number(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return 0, false
}

// TestDefaultRange runs the queries as checked in (the last seven days), as
// an analyst pasting them would.
func TestDefaultRange(t *testing.T) {
	s := migratedStore(t)
	recent := time.Now().Add(-2 * time.Hour)
	old := time.Now().Add(-8 * 24 * time.Hour)
	outcomes := append(event("r1", "order.created", recent, 1, true, attempt{status: pipeline.StatusDead, startMs: 5, procMs: 5, err: "x"}),
		event("r2", "order.created", old, 2, true, attempt{status: pipeline.StatusDead, startMs: 5, procMs: 5, err: "x"})...)
	if err := s.InsertOutcomes(t.Context(), outcomes); err != nil {
		t.Fatal(err)
	}
	res, err := s.RunQuery(t.Context(), "dlq_count", chschema.Range{})
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{r("event_type", "order.created", "hour", recent.UTC().Truncate(time.Hour), "dead", 1, "dead_events", 1)}
	if got := res.Maps(); len(got) != 1 || rowDiff(got[0], want[0]) != "" {
		t.Errorf("dlq_count over the default range = %v, want %v", got, want)
	}
	if _, err := s.RunQuery(t.Context(), "no_such_query", chschema.Range{}); err == nil {
		t.Error("unknown query ran")
	}
}
