package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// Syncer regenerates and publishes the whole catalog once.
type Syncer interface {
	Sync(ctx context.Context) (pipeline.CatalogSyncResult, error)
}

// TriggerConfig configures the group's one debouncer.
type TriggerConfig struct {
	Group          string
	Quiet, MaxWait time.Duration
	// PermanentAttempts is how many times a sync failing with a permanent
	// error is tried before its covered events are dead-lettered (the retry
	// tiers' count). Transient failures are an outage: retried with backoff
	// for as long as it lasts, never dead-lettered.
	PermanentAttempts int
	SessionTimeout    time.Duration
}

// Trigger owns the catalog sync for the whole consumer group. It
// consumes the single-partition sync topic, so exactly one member of the
// group holds the marks at a time, coalesces them with the debouncer, and
// commits them only once the knowledge base accepted the regenerated
// catalog: a crash in between means the sync runs again, never that a
// change is skipped.
type Trigger struct {
	cfg     TriggerConfig
	cons    *consume.Consumer
	syncer  Syncer
	fwd     *kafka.Forwarder
	rec     pipeline.OutcomeRecorder
	log     *slog.Logger
	deb     *pipeline.Debouncer
	metrics *catalogMetrics

	mu       sync.Mutex
	pending  []pendingMark
	failures int
}

// pendingMark is a mark taken but not yet covered by a sync, with the
// Marker of the partition worker that took it.
type pendingMark struct {
	r *kgo.Record
	m consume.Marker
}

// NewTrigger builds the trigger and its consumer: the runtime's deferred
// policy, since a mark is committed only once a sync covered it.
func NewTrigger(kcfg kafka.Config, cfg TriggerConfig, syncer Syncer, fwd *kafka.Forwarder, rec pipeline.OutcomeRecorder, log *slog.Logger, reg prometheus.Registerer) (*Trigger, error) {
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	t := &Trigger{cfg: cfg, syncer: syncer, fwd: fwd, rec: rec, log: log.With("component", "catalog-sync"), metrics: newCatalogMetrics(reg)}
	t.deb = pipeline.NewDebouncer(cfg.Quiet, cfg.MaxWait, t.sync)
	t.deb.OnError = func(err error, attempt int) {
		t.log.Warn("catalog sync failed; retrying", "attempt", attempt, "error", err)
	}
	cons, err := consume.New(kcfg, consume.Config{
		Group: cfg.Group, Topics: []string{schemas.TopicCatalogSync}, Role: "catalog-sync",
		SessionTimeout: cfg.SessionTimeout,
		HandleDeferred: t.take,
		// The runtime stopped the partition's worker and fenced its
		// Marker; the marks it took are re-read by the next owner.
		OnRevoked: func(context.Context, string, int32) { t.dropPending() },
	}, log, reg)
	if err != nil {
		return nil, err
	}
	t.cons = cons
	return t, nil
}

// Run consumes marks and runs the debouncer until ctx ends.
func (t *Trigger) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return t.deb.Run(gctx) })
	g.Go(func() error { return t.cons.Run(gctx) })
	return g.Wait()
}

// take holds a mark until a sync covers it.
func (t *Trigger) take(_ context.Context, r *kgo.Record, m consume.Marker) error {
	t.mu.Lock()
	t.pending = append(t.pending, pendingMark{r, m})
	t.mu.Unlock()
	t.deb.Mark()
	return nil
}

func (t *Trigger) dropPending() {
	t.mu.Lock()
	t.pending = nil
	t.failures = 0
	t.mu.Unlock()
}

// sync is the debouncer's action: one regeneration covering every mark
// received so far.
func (t *Trigger) sync(ctx context.Context, _ int) error {
	t.mu.Lock()
	covered := append([]pendingMark(nil), t.pending...)
	failures := t.failures
	t.mu.Unlock()
	if len(covered) == 0 {
		return nil // the partition moved to another member meanwhile
	}
	start := time.Now()
	// A sync that cannot finish (the broker or the knowledge base hangs)
	// must fail and be retried, not hold the marks forever.
	sctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	res, err := t.syncer.Sync(sctx)
	t.metrics.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t.metrics.syncs.WithLabelValues("failed").Inc()
		if !pipeline.IsPermanent(err) {
			return err
		}
		t.mu.Lock()
		t.failures++
		failures = t.failures
		t.mu.Unlock()
		if failures <= t.cfg.PermanentAttempts {
			return err
		}
		return t.finish(ctx, covered, failures, pipeline.StatusDead, err, start)
	}
	result := "uploaded"
	if res.Skipped {
		result = "unchanged"
	}
	t.metrics.syncs.WithLabelValues(result).Inc()
	t.metrics.coalesced.Observe(float64(len(covered)))
	t.log.Info("catalog synced", "rows", res.Rows, "hash", res.Hash, "uploaded", res.Uploaded,
		"unchanged", res.Skipped, "events_coalesced", len(covered), "duration_ms", time.Since(start).Milliseconds())
	return t.finish(ctx, covered, failures, pipeline.StatusCompleted, nil, start)
}

// finish records the covered events' outcome, dead-letters them if the sync
// gave up, and marks and commits them.
// failures is the count of failed attempts before this one.
func (t *Trigger) finish(ctx context.Context, covered []pendingMark, failures int, status pipeline.Status, cause error, start time.Time) error {
	now := time.Now()
	for _, pm := range covered {
		d, _ := kafka.DeliveryFromRecord(pm.r)
		d.Attempt = 1 + failures
		if status == pipeline.StatusDead {
			if err := t.fwd.DeadLetter(ctx, d, fmt.Errorf("catalog sync: %w", cause)); err != nil {
				return err
			}
		}
		out := pipeline.Outcome{
			EventID: d.Event.ID, EventType: d.Event.Type, EntityID: d.Event.EntityID, Status: status,
			Attempt: d.Attempt, ReceivedAt: d.Event.ReceivedAt, ProcessedAt: now,
			ProcessingMs: float64(now.Sub(start).Microseconds()) / 1000,
			Topic:        d.Origin.Topic, Partition: d.Origin.Partition, Offset: d.Origin.Offset,
		}
		if cause != nil {
			out.Error = cause.Error()
		}
		if t.rec != nil {
			t.rec.Record(out)
		}
	}
	t.mu.Lock()
	if len(t.pending) >= len(covered) && t.pending[len(covered)-1].r == covered[len(covered)-1].r {
		t.pending = t.pending[len(covered):]
	}
	t.failures = 0
	t.mu.Unlock()
	// A Marker of a revoked partition refuses: the new owner re-reads
	// those marks from the committed offset and syncs again.
	for _, pm := range covered {
		pm.m.Mark(pm.r)
	}
	if f, ok := t.rec.(interface{ Flush(context.Context) error }); ok {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = f.Flush(fctx) // best effort: the marks are committed regardless
		cancel()
	}
	if err := covered[0].m.Commit(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.log.Warn("commit after sync failed; a later commit covers it", "error", err)
	}
	return nil
}

type catalogMetrics struct {
	syncs     *prometheus.CounterVec
	coalesced prometheus.Histogram
	duration  prometheus.Histogram
}

func newCatalogMetrics(reg prometheus.Registerer) *catalogMetrics {
	m := &catalogMetrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopstream_catalog_syncs_total",
			Help: "Catalog regenerations by result: uploaded, unchanged (same hash, not uploaded), failed.",
		}, []string{"result"}),
		coalesced: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "shopstream_catalog_sync_events_coalesced",
			Help:    "Product events covered by one catalog regeneration.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "shopstream_catalog_sync_duration_seconds",
			Help:    "Time to regenerate and publish the catalog.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.syncs, m.coalesced, m.duration)
	}
	for _, r := range []string{"uploaded", "unchanged", "failed"} {
		m.syncs.WithLabelValues(r)
	}
	return m
}
