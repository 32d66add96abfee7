package clickhouse

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// consoleFixture writes a small, exactly known history: order 10001
// retried then delivered, order 10002 dead, a product sync covering two
// product events, and a re-delivered row (the sink wrote it twice).
func consoleFixture(t *testing.T, s *Store, now time.Time) {
	t.Helper()
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	o := func(id, typ, entity string, st pipeline.Status, attempt int, errText string, recv, proc time.Time, ms float64, topic string, off int64) pipeline.Outcome {
		return pipeline.Outcome{EventID: id, EventType: typ, EntityID: entity, Status: st, Attempt: attempt, Error: errText,
			ReceivedAt: recv, ProcessedAt: proc, ProcessingMs: ms, Topic: topic, Partition: 1, Offset: off}
	}
	rows := []pipeline.Outcome{
		o("e1", pipeline.OrderUpdated, "10001", pipeline.StatusReceived, 1, "", at(30*time.Minute), at(30*time.Minute), 0, "evershop.order", 5),
		o("e1", pipeline.OrderUpdated, "10001", pipeline.StatusRetrying, 1, "inbox: 503", at(30*time.Minute), at(29*time.Minute), 10, "evershop.order", 5),
		o("e1", pipeline.OrderUpdated, "10001", pipeline.StatusCompleted, 2, "", at(30*time.Minute), at(28*time.Minute), 20, "evershop.retry.2s", 0),
		o("e2", pipeline.OrderUpdated, "10002", pipeline.StatusReceived, 1, "", at(20*time.Minute), at(20*time.Minute), 0, "evershop.order", 6),
		o("e2", pipeline.OrderUpdated, "10002", pipeline.StatusDead, 1, "inbox: 400", at(20*time.Minute), at(20*time.Minute).Add(time.Second), 30, "evershop.order", 6),
		o("p1", pipeline.ProductUpdated, "7", pipeline.StatusReceived, 1, "", at(10*time.Minute), at(10*time.Minute), 0, "evershop.product", 1),
		o("p2", pipeline.ProductUpdated, "8", pipeline.StatusReceived, 1, "", at(10*time.Minute), at(10*time.Minute), 0, "evershop.product", 2),
		o("p1", pipeline.ProductUpdated, "7", pipeline.StatusCompleted, 1, "", at(10*time.Minute), at(9*time.Minute), 40, "evershop.product", 1),
		o("p2", pipeline.ProductUpdated, "8", pipeline.StatusCompleted, 1, "", at(10*time.Minute), at(9*time.Minute), 40, "evershop.product", 2),
		o("old", pipeline.OrderUpdated, "10001", pipeline.StatusReceived, 1, "", at(3*time.Hour), at(3*time.Hour), 0, "evershop.order", 1),
	}
	if err := s.InsertOutcomes(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertOutcomes(t.Context(), rows[2:3]); err != nil { // the sink re-delivered one
		t.Fatal(err)
	}
}

func TestConsoleQueries(t *testing.T) {
	s := migratedStore(t)
	now := time.Now().UTC().Truncate(time.Second)
	consoleFixture(t, s, now)
	ctx := t.Context()
	ids := func(es []EventSummary) string {
		var out []string
		for _, e := range es {
			out = append(out, e.EventID+"="+e.Status)
		}
		return fmt.Sprint(out)
	}
	cases := []struct {
		q    EventQuery
		want string
	}{
		{EventQuery{}, "[p1=completed p2=completed e2=dead e1=completed old=received]"},
		{EventQuery{EntityID: "10001"}, "[e1=completed old=received]"},
		{EventQuery{EntityID: "10001", Since: now.Add(-time.Hour)}, "[e1=completed]"},
		{EventQuery{Status: "dead"}, "[e2=dead]"},
		{EventQuery{EventType: pipeline.ProductUpdated, Limit: 1}, "[p1=completed]"},
		{EventQuery{EventID: "e2"}, "[e2=dead]"},
		{EventQuery{Until: now.Add(-time.Hour)}, "[old=received]"},
	}
	for _, c := range cases {
		got, err := s.FindEvents(ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if ids(got) != c.want {
			t.Errorf("%+v: %s, want %s", c.q, ids(got), c.want)
		}
	}
	got, _ := s.FindEvents(ctx, EventQuery{EventID: "e1"})
	if len(got) != 1 || got[0].Attempts != 2 || got[0].EntityID != "10001" || got[0].Error != "" {
		t.Errorf("e1 summary %+v", got)
	}

	tl, err := s.Timeline(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, r := range tl {
		steps = append(steps, fmt.Sprintf("%s/%d/%s@%d", r.Status, r.Attempt, r.Topic, r.Offset))
	}
	if fmt.Sprint(steps) != "[received/1/evershop.order@5 retrying/1/evershop.order@5 completed/2/evershop.retry.2s@0]" {
		t.Errorf("timeline %v (the re-delivered row must collapse)", steps)
	}
	if tl[1].Error != "inbox: 503" || tl[1].ProcessingMs != 10 || tl[1].EventType != pipeline.OrderUpdated {
		t.Errorf("retry row %+v", tl[1])
	}

	del, err := s.Delivered(ctx, []string{"e1", "e2", "nope"})
	if err != nil || len(del) != 1 || !del["e1"] {
		t.Errorf("delivered %v %v", del, err)
	}

	ov, err := s.LoadOverview(ctx, now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if ov.TotalAccepted != 4 {
		t.Errorf("accepted %d, want 4 (the 3-hour-old one is outside)", ov.TotalAccepted)
	}
	perTopic := map[string]uint64{}
	for _, m := range ov.PerMinute {
		perTopic[m.Endpoint] += m.Count
	}
	if perTopic["evershop.order"] != 2 || perTopic["evershop.product"] != 2 {
		t.Errorf("per minute %+v", ov.PerMinute)
	}
	byStatus := map[string]uint64{}
	for _, c := range ov.ByStatus {
		byStatus[c.Status] = c.Count
	}
	if byStatus["completed"] != 3 || byStatus["dead"] != 1 || byStatus["retrying"] != 1 || byStatus["received"] != 4 {
		t.Errorf("by status %v", byStatus)
	}
	if ov.Terminal != 4 || ov.Completed != 3 || math.Abs(ov.SuccessRate-0.75) > 1e-9 {
		t.Errorf("rates %d/%d %.3f", ov.Completed, ov.Terminal, ov.SuccessRate)
	}
	if ov.P50Ms < 20 || ov.P50Ms > 40 || ov.P99Ms < 39 || ov.P99Ms > 40.01 {
		t.Errorf("p50 %.2f p99 %.2f over [20 30 40 40]", ov.P50Ms, ov.P99Ms)
	}
	if len(ov.CatalogSyncs) != 1 || ov.CatalogSyncs[0].Events != 2 || ov.CatalogSyncs[0].DurationMs != 40 || ov.CatalogSyncs[0].Status != "completed" {
		t.Errorf("catalog syncs %+v", ov.CatalogSyncs)
	}
}
