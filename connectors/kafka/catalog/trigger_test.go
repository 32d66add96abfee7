package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/kafkatest"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// runTrigger runs a trigger of group catalog-test (20 ms quiet, 1 s max
// wait) until the test ends.
func runTrigger(t *testing.T, kcfg kafka.Config, syncer Syncer, dlq DeadLetterer, rec pipeline.OutcomeRecorder) {
	t.Helper()
	tr, err := NewTrigger(kcfg, TriggerConfig{Group: "catalog-test", Quiet: 20 * time.Millisecond, MaxWait: time.Second}, syncer, dlq, rec, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Logf("trigger stopped: %v", err) // not under test here
		}
	})
}

// fakeSyncer fails while down is set, else succeeds, and counts calls.
type fakeSyncer struct {
	down  atomic.Bool
	calls atomic.Int32
	ok    atomic.Int32
}

func (s *fakeSyncer) Sync(context.Context) (pipeline.CatalogSyncResult, error) {
	s.calls.Add(1)
	if s.down.Load() {
		return pipeline.CatalogSyncResult{}, errors.New("knowledge base unreachable")
	}
	s.ok.Add(1)
	return pipeline.CatalogSyncResult{Rows: 1}, nil
}

type recorded struct {
	mu   sync.Mutex
	outs []pipeline.Outcome
}

func (r *recorded) Record(o pipeline.Outcome) {
	r.mu.Lock()
	r.outs = append(r.outs, o)
	r.mu.Unlock()
}

// TestTriggerCommitsMarksOnlyAfterASync runs the trigger over kfake: while
// the syncer fails nothing is committed; once it succeeds, one sync covers
// every mark, each gets a completed outcome, and the marks are committed.
func TestTriggerCommitsMarksOnlyAfterASync(t *testing.T) {
	c := kafkatest.Fake(t, kfake.SeedTopics(1, schemas.TopicCatalogSync))
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = c.ListenAddrs()
	log := slog.New(slog.DiscardHandler)
	prod, err := kafka.NewProducer(kcfg, "test-producer", log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close(context.Background()) })
	marks := NewMarks(prod, nil, nil)
	const n = 5
	for i := range n {
		d := pipeline.Delivery{Event: pipeline.Event{ID: fmt.Sprintf("ev-%d", i), Type: pipeline.ProductUpdated,
			Kind: pipeline.KindProduct, EntityID: "1", ReceivedAt: time.Now(), Body: []byte(`{}`)},
			Attempt: 1, Topic: schemas.TopicProduct}
		if err := marks.MarkCatalog(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	syncer := &fakeSyncer{}
	syncer.down.Store(true)
	rec := &recorded{}
	fwd := kafka.NewForwarder(prod, []time.Duration{time.Second}, nil, nil)
	runTrigger(t, kcfg, syncer, fwd, rec)

	adm := kadm.NewClient(prod.Client())
	committed := func() int64 {
		offs, err := adm.FetchOffsets(t.Context(), "catalog-test")
		if errors.Is(err, kerr.GroupIDNotFound) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup(schemas.TopicCatalogSync, 0)
		return max(o.At, 0)
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait("two failed syncs", func() bool { return syncer.calls.Load() >= 2 })
	if got := committed(); got != 0 {
		t.Fatalf("committed %d marks while every sync failed", got)
	}
	syncer.down.Store(false)
	wait("a successful sync", func() bool { return syncer.ok.Load() >= 1 })
	wait("every mark committed", func() bool { return committed() == n })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.outs) != n {
		t.Fatalf("%d outcomes, want %d", len(rec.outs), n)
	}
	for _, o := range rec.outs {
		if o.Status != pipeline.StatusCompleted {
			t.Errorf("outcome %s: %s, want completed", o.EventID, o.Status)
		}
	}
}

// TestTriggerRecordsCopiesAsDuplicates: two copies of one product event
// (the store re-sent a webhook a crashed serve had accepted) are two marks;
// one records "completed", the other "duplicate" — whether both fall in one
// sync or the copy comes in a later one.
func TestTriggerRecordsCopiesAsDuplicates(t *testing.T) {
	c := kafkatest.Fake(t, kfake.SeedTopics(1, schemas.TopicCatalogSync))
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = c.ListenAddrs()
	log := slog.New(slog.DiscardHandler)
	prod, err := kafka.NewProducer(kcfg, "test-producer", log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close(context.Background()) })
	marks := NewMarks(prod, nil, nil)
	mark := func(id string) {
		t.Helper()
		d := pipeline.Delivery{Event: pipeline.Event{ID: id, Type: pipeline.ProductUpdated,
			Kind: pipeline.KindProduct, EntityID: "1", ReceivedAt: time.Now(), Body: []byte(`{}`)},
			Attempt: 1, Topic: schemas.TopicProduct}
		if err := marks.MarkCatalog(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	mark("ev-a")
	mark("ev-b")
	mark("ev-a") // a copy in the same sync
	syncer := &fakeSyncer{}
	rec := &recorded{}
	fwd := kafka.NewForwarder(prod, []time.Duration{time.Second}, nil, nil)
	runTrigger(t, kcfg, syncer, fwd, rec)
	outcomes := func() map[string][]pipeline.Status {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		m := map[string][]pipeline.Status{}
		for _, o := range rec.outs {
			m[o.EventID] = append(m[o.EventID], o.Status)
		}
		return m
	}
	wait := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			rec.mu.Lock()
			got := len(rec.outs)
			rec.mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (%d of %d outcomes)", what, got, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait("the first sync's outcomes", 3)
	mark("ev-b") // a copy in a later sync
	mark("ev-c")
	wait("the second sync's outcomes", 5)
	want := map[string][]pipeline.Status{
		"ev-a": {pipeline.StatusCompleted, pipeline.StatusDuplicate},
		"ev-b": {pipeline.StatusCompleted, pipeline.StatusDuplicate},
		"ev-c": {pipeline.StatusCompleted},
	}
	got := outcomes()
	for id, w := range want {
		if fmt.Sprint(got[id]) != fmt.Sprint(w) {
			t.Errorf("%s: outcomes %v, want %v", id, got[id], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("outcomes for %d events, want %d: %v", len(got), len(want), got)
	}
}

// TestTriggerRunsARegenerationRequest: an operator's "regenerate now" (the
// console) is a catalog.regenerate mark with no product behind it; the
// owner runs one sync for it and records its outcome under that type, and
// two requests in one window are one sync.
func TestTriggerRunsARegenerationRequest(t *testing.T) {
	c := kafkatest.Fake(t, kfake.SeedTopics(1, schemas.TopicCatalogSync))
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = c.ListenAddrs()
	log := slog.New(slog.DiscardHandler)
	prod, err := kafka.NewProducer(kcfg, "test-producer", log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close(context.Background()) })
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	first, second := RegenerationRequest("ops@example.com", now), RegenerationRequest("ops@example.com", now)
	if kafka.Header(first, schemas.HeaderEventID) == kafka.Header(second, schemas.HeaderEventID) {
		t.Fatalf("two requests share the event id %s", kafka.Header(first, schemas.HeaderEventID))
	}
	for _, r := range []*kgo.Record{first, second} {
		if err := prod.Produce(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	syncer, rec := &fakeSyncer{}, &recorded{}
	fwd := kafka.NewForwarder(prod, []time.Duration{time.Second}, nil, nil)
	runTrigger(t, kcfg, syncer, fwd, rec)
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec.mu.Lock()
		n := len(rec.outs)
		rec.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d outcomes after 30 s, want 2", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := syncer.ok.Load(); got != 1 {
		t.Fatalf("%d syncs for two requests in one window, want 1", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, o := range rec.outs {
		if o.EventType != pipeline.CatalogRegenerate || o.Status != pipeline.StatusCompleted || o.EntityID != "catalog" {
			t.Errorf("outcome %+v, want a completed catalog.regenerate", o)
		}
	}
}
