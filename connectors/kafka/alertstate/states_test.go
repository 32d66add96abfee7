package alertstate

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/progress"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

const parts = 3

func newStates(t *testing.T, kcfg kafka.Config) *States {
	t.Helper()
	s, err := NewStates(kcfg, Config{Topic: schemas.TopicAlertState, Aligned: []string{schemas.TopicProduct}}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func assignAll(t *testing.T, s *States) {
	t.Helper()
	for p := range int32(parts) {
		if err := s.OnAssigned(t.Context(), schemas.TopicProduct, p); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStatesSurviveARestart: what one member saved, the next member that
// loads the partitions reads back (newest version wins over a late older
// write); before loading, a product's state is refused, not guessed.
func TestStatesSurviveARestart(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, schemas.TopicAlertState, schemas.TopicProduct))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = c.ListenAddrs()
	ctx := t.Context()

	first := newStates(t, kcfg)
	if _, err := first.Load(ctx, "7"); !errors.Is(err, progress.ErrNotLoaded) {
		t.Fatalf("load before assignment: %v, want ErrNotLoaded", err)
	}
	assignAll(t, first)
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	newer := pipeline.AlertState{UpdatedAt: t0.Add(time.Minute), ReceivedAt: t0, EventID: "b", QtyKnown: true, Qty: 0,
		Fired: []pipeline.Alert{{ID: "alert_x", Trigger: pipeline.AlertOutOfStock, ProductID: "7", Old: "3", New: "0"}}}
	older := pipeline.AlertState{UpdatedAt: t0, ReceivedAt: t0, EventID: "a", QtyKnown: true, Qty: 3}
	if err := first.Save(ctx, "7", newer); err != nil {
		t.Fatal(err)
	}
	// An older state written late (a member that lost the partition) is
	// refused: the newest by version stays.
	if err := first.Save(ctx, "7", older); !errors.Is(err, progress.ErrOverridden) {
		t.Fatalf("older state written over a newer one: %v, want ErrOverridden", err)
	}
	if err := first.Save(ctx, "8", older); err != nil {
		t.Fatal(err)
	}

	second := newStates(t, kcfg)
	assignAll(t, second)
	got, err := second.Load(ctx, "7")
	if err != nil || got == nil {
		t.Fatalf("load after restart: %v %v", got, err)
	}
	if got.EventID != "b" || got.Qty != 0 || len(got.Fired) != 1 || got.Fired[0].ID != "alert_x" {
		t.Fatalf("loaded %+v, want the newest state (event b)", got)
	}
	if got, _ := second.Load(ctx, "9"); got != nil {
		t.Fatalf("unknown product: %+v", got)
	}
	if second.Keys() != 2 {
		t.Errorf("keys %d, want 2", second.Keys())
	}
	for p := range int32(parts) {
		second.OnRevoked(ctx, schemas.TopicProduct, p)
	}
	if _, err := second.Load(ctx, "7"); !errors.Is(err, progress.ErrNotLoaded) {
		t.Fatalf("load after revoke: %v, want ErrNotLoaded", err)
	}
}

// TestEngineOverStatesFiresOnceAcrossMembers: an out-of-stock crossing
// handled by one member is not fired again when the next member (after a
// rebalance) sees the same event or an older one.
func TestEngineOverStatesFiresOnceAcrossMembers(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(parts, schemas.TopicAlertState, schemas.TopicProduct))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = c.ListenAddrs()
	ctx := t.Context()
	rules := pipeline.AlertRules{Inventory: true, LowStock: 2}
	ev := func(id string, sec int, qty string) pipeline.Event {
		at := time.Date(2026, 12, 3, 12, 0, sec, 0, time.UTC)
		return pipeline.Event{ID: id, Type: pipeline.ProductUpdated, Kind: pipeline.KindProduct, EntityID: "7", ReceivedAt: at,
			Data: []byte(`{"id":7,"sku":"MUG-1","qty":` + qty + `,"updated_at":"` + at.Format(time.RFC3339) + `"}`)}
	}
	a := newStates(t, kcfg)
	assignAll(t, a)
	ea := pipeline.NewAlertEngine(rules, a)
	for _, e := range []pipeline.Event{ev("a", 0, "5")} {
		if _, err := ea.Evaluate(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	fired, err := ea.Evaluate(ctx, ev("b", 1, "0"))
	if err != nil || len(fired) != 1 {
		t.Fatalf("first member: %v %v", fired, err)
	}
	b := newStates(t, kcfg)
	assignAll(t, b)
	eb := pipeline.NewAlertEngine(rules, b)
	again, err := eb.Evaluate(ctx, ev("b", 1, "0"))
	if err != nil || len(again) != 1 || again[0].ID != fired[0].ID {
		t.Fatalf("redelivery on the next member: %v %v (want the same alert id %s)", again, err, fired[0].ID)
	}
	stale, err := eb.Evaluate(ctx, ev("a", 0, "5"))
	if err != nil || len(stale) != 0 {
		t.Fatalf("older event on the next member fired %v %v", stale, err)
	}
	none, err := eb.Evaluate(ctx, ev("c", 2, "0"))
	if err != nil || len(none) != 0 {
		t.Fatalf("still out of stock fired %v %v", none, err)
	}
}

// BenchmarkStateMemory reports the heap the store holds for 100,000
// products' alert states (the encoded values by product id, as a loaded
// partition keeps them).
func BenchmarkStateMemory(b *testing.B) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		vals := make(map[string][]byte)
		for i := range 100_000 {
			id := strconv.Itoa(i)
			v, err := encode(pipeline.AlertState{UpdatedAt: t0, ReceivedAt: t0.Add(time.Duration(i)), EventID: "evt_" + id + "_0123456789abcdef0123456789",
				QtyKnown: true, Qty: int64(i % 50), InStockKnown: true, InStock: true, PriceRef: "24.90"})
			if err != nil {
				b.Fatal(err)
			}
			vals[id] = v
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB/100k")
		runtime.KeepAlive(vals)
	}
}
