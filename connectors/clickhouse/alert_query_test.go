package clickhouse

import (
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
	chschema "github.com/shopstream/shopstream/schemas/clickhouse"
)

// TestAlertQueries: alert outcome rows (written twice, as an at-least-once
// sink may) give exact figures for alerts per day by trigger and for the
// products out of stock longest; a retried alert counts once.
func TestAlertQueries(t *testing.T) {
	s := migratedStore(t)
	d0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return d0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	var off int64
	alert := func(id, trigger, product string, when time.Time, status pipeline.Status, attempt int) pipeline.Outcome {
		off++
		d := pipeline.Delivery{Attempt: attempt, Topic: "evershop.product", Offset: off,
			Event: pipeline.Event{ID: "evt-" + id, Type: pipeline.ProductUpdated, EntityID: product, ReceivedAt: when}}
		return pipeline.NewAlertOutcome(d, pipeline.Alert{ID: id, Trigger: pipeline.AlertTrigger(trigger), ProductID: product, Old: "1", New: "0"},
			status, nil, when, when)
	}
	delivered := func(id, trigger, product string, when time.Time) pipeline.Outcome {
		off++
		a := pipeline.Alert{ID: id, Trigger: pipeline.AlertTrigger(trigger), ProductID: product, Old: "1", New: "0"}
		ev, err := pipeline.AlertDeliveryEvent(pipeline.AlertDelivery{Channel: pipeline.ChannelWebhook, Alert: &a}, when)
		if err != nil {
			t.Fatal(err)
		}
		return pipeline.NewOutcome(pipeline.Delivery{Event: ev, Attempt: 1, Topic: "shopstream.alerts", Offset: off}, pipeline.StatusCompleted, nil, when, when)
	}
	rows := []pipeline.Outcome{
		alert("a1", "out_of_stock", "7", at(10, 0), pipeline.StatusRetrying, 1),  // retried ...
		alert("a1", "out_of_stock", "7", at(10, 0), pipeline.StatusCompleted, 2), // ... then sent: counts once
		alert("a2", "back_in_stock", "7", at(12, 0), pipeline.StatusCompleted, 1),
		alert("a3", "out_of_stock", "8", at(11, 0), pipeline.StatusCompleted, 1), // still out at the range end
		alert("a4", "low_stock", "9", at(11, 30), pipeline.StatusCompleted, 1),
		alert("a5", "price_change", "9", d0.Add(26*time.Hour), pipeline.StatusCompleted, 1),
		alert("a6", "back_in_stock", "10", at(1, 0), pipeline.StatusCompleted, 1), // out since before the range
		delivered("a3", "out_of_stock", "8", at(11, 1)),                           // delivery rows are no alerts
		delivered("a4", "low_stock", "9", at(11, 31)),
	}
	for range 2 {
		if err := s.InsertOutcomes(t.Context(), rows); err != nil {
			t.Fatal(err)
		}
	}
	rng := chschema.Range{From: d0, To: d0.Add(48 * time.Hour)}
	day1, day2 := d0, d0.Add(24*time.Hour)
	for name, want := range map[string][]map[string]any{
		"alerts_per_day": {
			r("day", day1, "alert_trigger", "back_in_stock", "alerts", 2, "products", 2),
			r("day", day1, "alert_trigger", "low_stock", "alerts", 1, "products", 1),
			r("day", day1, "alert_trigger", "out_of_stock", "alerts", 2, "products", 2),
			r("day", day2, "alert_trigger", "price_change", "alerts", 1, "products", 1),
		},
		"out_of_stock_longest": {
			// 8: out from 11:00 to the range end (day 2, 24:00) = 37 h.
			r("product_id", "8", "out_of_stock_seconds", 37*3600, "spells", 1, "out_now", 1),
			r("product_id", "7", "out_of_stock_seconds", 2*3600, "spells", 1, "out_now", 0),
			r("product_id", "10", "out_of_stock_seconds", 3600, "spells", 1, "out_now", 0),
		},
	} {
		t.Run(name, func(t *testing.T) {
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
