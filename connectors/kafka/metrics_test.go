package kafka

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shopstream/shopstream/pipeline"
)

func TestRetryMetrics(t *testing.T) {
	now := time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	var obs pipeline.RetryObserver = NewRetryMetrics(reg, 24*time.Hour, func() time.Time { return now })
	obs.Held(2, now.Add(-90*time.Second))
	obs.DeadLettered(pipeline.DeadLetterMaxAge, 25*time.Hour)
	obs.Retried(2, time.Minute)
	want := `
# HELP shopstream_held_events Events held by the processor now because a downstream's breaker is open.
# TYPE shopstream_held_events gauge
shopstream_held_events 2
# HELP shopstream_held_oldest_age_seconds Age (since receipt) of the oldest event held now; 0 when none.
# TYPE shopstream_held_oldest_age_seconds gauge
shopstream_held_oldest_age_seconds 90
# HELP shopstream_retry_max_age_seconds SHOPSTREAM_RETRY_MAX_AGE: an event failing transiently is dead-lettered (a hold ends) at this age.
# TYPE shopstream_retry_max_age_seconds gauge
shopstream_retry_max_age_seconds 86400
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shopstream_held_events", "shopstream_held_oldest_age_seconds", "shopstream_retry_max_age_seconds"); err != nil {
		t.Fatal(err)
	}
	m := obs.(*RetryMetrics)
	if got := testutil.ToFloat64(m.dead.WithLabelValues("max_age")); got != 1 {
		t.Fatalf("max_age dead letters %v", got)
	}
	if got := testutil.ToFloat64(m.dead.WithLabelValues("permanent")); got != 0 {
		t.Fatalf("permanent dead letters %v", got)
	}
	obs.Held(0, time.Time{})
	if got := m.oldestAge(); got != 0 {
		t.Fatalf("oldest age with nothing held = %v", got)
	}
}
