package clickhouse

import (
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// The message column (migration 0004) round-trips through the writer, and
// SentMessage reads the first delivered outcome's text, ignoring rows
// without one and other events of the same id's type.
func TestSentMessageReadsWhatTheDeliveredOutcomeRecorded(t *testing.T) {
	s := migratedStore(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	o := func(id string, st pipeline.Status, attempt int, at time.Time, msg string) pipeline.Outcome {
		return pipeline.Outcome{EventID: id, EventType: pipeline.OrderUpdated, EntityID: "10001", Status: st, Attempt: attempt,
			ReceivedAt: now.Add(-time.Hour), ProcessedAt: at, Topic: "evershop.order", Partition: 1, Offset: int64(attempt), Message: msg}
	}
	rows := []pipeline.Outcome{
		o("m1", pipeline.StatusReceived, 0, now.Add(-time.Hour), ""),
		o("m1", pipeline.StatusRetrying, 1, now.Add(-50*time.Minute), ""),
		o("m1", pipeline.StatusCompleted, 2, now.Add(-40*time.Minute), "Hi Jane, your order 10001 has shipped."),
		o("m1", pipeline.StatusDuplicate, 3, now.Add(-30*time.Minute), ""),
		o("m2", pipeline.StatusCompleted, 1, now.Add(-20*time.Minute), ""), // delivered before 0004: no text
	}
	if err := s.InsertOutcomes(ctx, rows); err != nil {
		t.Fatal(err)
	}
	m, ok, err := s.SentMessage(ctx, pipeline.OrderUpdated, "m1")
	if err != nil || !ok || m.Text != "Hi Jane, your order 10001 has shipped." || !m.SentAt.Equal(now.Add(-40*time.Minute)) {
		t.Fatalf("m1: %+v %v %v", m, ok, err)
	}
	for _, id := range []string{"m2", "nope"} {
		if m, ok, err := s.SentMessage(ctx, pipeline.OrderUpdated, id); err != nil || ok {
			t.Errorf("%s: %+v %v %v", id, m, ok, err)
		}
	}
	if _, ok, _ := s.SentMessage(ctx, pipeline.OrderCreated, "m1"); ok {
		t.Error("found under another event type")
	}
}
