package clickhouse

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// BenchmarkInsertOutcomes measures InsertOutcomes against the real server
// with batches of 10,000 distinct outcomes, the sink's batch size, and
// reports rows/s.
func BenchmarkInsertOutcomes(b *testing.B) {
	const batchSize = 10_000
	s := migratedStore(b)
	base := time.Now().Add(-time.Hour)
	batch := make([]pipeline.Outcome, batchSize)
	statuses := []pipeline.Status{pipeline.StatusReceived, pipeline.StatusCompleted, pipeline.StatusRetrying, pipeline.StatusDead}
	b.ReportAllocs()
	rows, round := 0, 0
	for b.Loop() {
		b.StopTimer()
		for i := range batch {
			n := round*batchSize + i
			batch[i] = pipeline.Outcome{
				EventID: fmt.Sprintf("bench-%d", n), EventType: "order.updated", EntityID: fmt.Sprint(n % 997),
				Status: statuses[n%len(statuses)], Attempt: 1 + n%3, ReceivedAt: base.Add(time.Duration(n) * time.Millisecond),
				ProcessedAt: base.Add(time.Duration(n+40) * time.Millisecond), ProcessingMs: float64(n % 250),
				Topic: "evershop.order", Partition: int32(n % 6), Offset: int64(n),
			}
		}
		b.StartTimer()
		if err := s.InsertOutcomes(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
		rows += batchSize
		round++
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	if got := count(b, s, "SELECT count() FROM webhook_events"); got != uint64(rows) {
		b.Fatalf("webhook_events has %d rows, inserted %d", got, rows)
	}
}
