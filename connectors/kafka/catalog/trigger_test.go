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

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/kafkatest"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

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
	tr, err := NewTrigger(kcfg, TriggerConfig{Group: "catalog-test", Quiet: 20 * time.Millisecond, MaxWait: time.Second}, syncer, fwd, rec, log, prometheus.NewRegistry())
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
