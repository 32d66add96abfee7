package kafka

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

	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// CatalogMarks is the processor's pipeline.CatalogMarker: it makes a product
// event's change durable (in the compacted state topic, when that is the
// catalog source) and hands a "catalog is dirty" mark, carrying the event,
// to the single-partition sync topic.
type CatalogMarks struct {
	prod  *Producer
	state interface {
		Apply(ctx context.Context, ev pipeline.Event) error
	}
	now func() time.Time
}

// NewCatalogMarks builds the marker; state is nil when the catalog is read
// from EverShop's admin API.
func NewCatalogMarks(prod *Producer, state interface {
	Apply(ctx context.Context, ev pipeline.Event) error
}, now func() time.Time) *CatalogMarks {
	if now == nil {
		now = time.Now
	}
	return &CatalogMarks{prod: prod, state: state, now: now}
}

// MarkCatalog returns once both writes are acknowledged.
func (m *CatalogMarks) MarkCatalog(ctx context.Context, d pipeline.Delivery) error {
	if m.state != nil {
		if err := m.state.Apply(ctx, d.Event); err != nil {
			return fmt.Errorf("catalog state: %w", err)
		}
	}
	rec := deliveryRecord(schemas.TopicCatalogSync, d, nil, m.now())
	rec.Key = []byte("catalog")
	return m.prod.Produce(ctx, rec)
}

// CatalogSyncer regenerates and publishes the whole catalog once.
type CatalogSyncer interface {
	Sync(ctx context.Context) (pipeline.CatalogSyncResult, error)
}

// CatalogTriggerConfig configures the group's one debouncer.
type CatalogTriggerConfig struct {
	Group          string
	Quiet, MaxWait time.Duration
	// PermanentAttempts is how many times a sync failing with a permanent
	// error is tried before its covered events are dead-lettered (the retry
	// tiers' count). Transient failures are an outage: retried with backoff
	// for as long as it lasts, never dead-lettered.
	PermanentAttempts int
	SessionTimeout    time.Duration
}

// CatalogTrigger owns the catalog sync for the whole consumer group. It
// consumes the single-partition sync topic, so exactly one member of the
// group holds the marks at a time, coalesces them with the debouncer, and
// commits them only once the knowledge base accepted the regenerated
// catalog: a crash in between means the sync runs again, never that a
// change is skipped.
type CatalogTrigger struct {
	cfg     CatalogTriggerConfig
	cl      *kgo.Client
	syncer  CatalogSyncer
	fwd     *Forwarder
	rec     pipeline.OutcomeRecorder
	log     *slog.Logger
	deb     *pipeline.Debouncer
	metrics *catalogMetrics

	mu       sync.Mutex
	pending  []*kgo.Record
	failures int
}

// NewCatalogTrigger builds the trigger and its consumer client.
func NewCatalogTrigger(kcfg Config, cfg CatalogTriggerConfig, syncer CatalogSyncer, fwd *Forwarder, rec pipeline.OutcomeRecorder, log *slog.Logger, reg prometheus.Registerer) (*CatalogTrigger, error) {
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	t := &CatalogTrigger{cfg: cfg, syncer: syncer, fwd: fwd, rec: rec, log: log.With("component", "catalog-sync"), metrics: newCatalogMetrics(reg)}
	t.deb = pipeline.NewDebouncer(cfg.Quiet, cfg.MaxWait, t.sync)
	t.deb.OnError = func(err error, attempt int) {
		t.log.Warn("catalog sync failed; retrying", "attempt", attempt, "error", err)
	}
	cl, err := NewClient(kcfg, "catalog-sync", log, reg, append(groupOpts(cfg.Group, cfg.SessionTimeout, schemas.TopicCatalogSync),
		kgo.AutoCommitMarks(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			t.dropPending()
			_ = cl.CommitMarkedOffsets(ctx)
		}),
		kgo.OnPartitionsLost(func(context.Context, *kgo.Client, map[string][]int32) { t.dropPending() }),
	)...)
	if err != nil {
		return nil, err
	}
	t.cl = cl
	return t, nil
}

// Run consumes marks and runs the debouncer until ctx ends.
func (t *CatalogTrigger) Run(ctx context.Context) error {
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = t.cl.CommitMarkedOffsets(cctx)
		leaveGroup(t.cl)
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return t.deb.Run(gctx) })
	g.Go(func() error {
		for {
			fetches := t.cl.PollRecords(gctx, 1000)
			if fetches.IsClientClosed() || gctx.Err() != nil {
				return nil
			}
			fetches.EachError(func(topic string, p int32, err error) {
				t.log.Warn("fetch error", "topic", topic, "partition", p, "error", err)
			})
			fetches.EachRecord(func(r *kgo.Record) {
				t.mu.Lock()
				t.pending = append(t.pending, r)
				t.mu.Unlock()
				t.deb.Mark()
			})
			t.cl.AllowRebalance()
		}
	})
	return g.Wait()
}

func (t *CatalogTrigger) dropPending() {
	t.mu.Lock()
	t.pending = nil
	t.failures = 0
	t.mu.Unlock()
}

// sync is the debouncer's action: one regeneration covering every mark
// received so far.
func (t *CatalogTrigger) sync(ctx context.Context, _ int) error {
	t.mu.Lock()
	covered := append([]*kgo.Record(nil), t.pending...)
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
		exhausted := t.failures > t.cfg.PermanentAttempts
		t.mu.Unlock()
		if !exhausted {
			return err
		}
		return t.finish(ctx, covered, pipeline.StatusDead, err, start)
	}
	result := "uploaded"
	if res.Skipped {
		result = "unchanged"
	}
	t.metrics.syncs.WithLabelValues(result).Inc()
	t.metrics.coalesced.Observe(float64(len(covered)))
	t.log.Info("catalog synced", "rows", res.Rows, "hash", res.Hash, "uploaded", res.Uploaded,
		"unchanged", res.Skipped, "events_coalesced", len(covered), "duration_ms", time.Since(start).Milliseconds())
	return t.finish(ctx, covered, pipeline.StatusCompleted, nil, start)
}

// finish records the covered events' outcome, dead-letters them if the sync
// gave up, and marks and commits them.
func (t *CatalogTrigger) finish(ctx context.Context, covered []*kgo.Record, status pipeline.Status, cause error, start time.Time) error {
	now := time.Now()
	for _, r := range covered {
		d, _ := DeliveryFromRecord(r)
		d.Attempt = 1 + t.failures
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
	if len(t.pending) >= len(covered) && t.pending[len(covered)-1] == covered[len(covered)-1] {
		t.pending = t.pending[len(covered):]
	}
	t.failures = 0
	t.mu.Unlock()
	t.cl.MarkCommitRecords(covered...)
	if f, ok := t.rec.(interface{ Flush(context.Context) error }); ok {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = f.Flush(fctx) // best effort: the marks are committed regardless
		cancel()
	}
	if err := t.cl.CommitMarkedOffsets(ctx); err != nil && !errors.Is(err, context.Canceled) {
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
