package catalog

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// Syncer regenerates and publishes the whole catalog once.
type Syncer interface {
	Sync(ctx context.Context) (pipeline.CatalogSyncResult, error)
}

// DeadLetterer writes an event to the DLQ (kafka.Forwarder does).
type DeadLetterer interface {
	DeadLetter(ctx context.Context, d pipeline.Delivery, cause error) error
}

// TriggerConfig configures the catalog trigger.
type TriggerConfig struct {
	// Group is the trigger's consumer group (schemas.GroupCatalog) and
	// SyncTopic the topic of marks (schemas.TopicCatalogSync).
	Group     string
	SyncTopic string
	// Processors is the processor group whose progress on ProductTopics
	// gates a window (schemas.GroupProcessor, schemas.TopicProduct).
	Processors    string
	ProductTopics []string
	// Quiet and MaxWait shape the window (pipeline.DebounceWindow).
	Quiet, MaxWait time.Duration
	// SyncTimeout bounds one regeneration (15 min): a sync that cannot
	// finish fails and is retried instead of holding its marks for ever.
	SyncTimeout    time.Duration
	SessionTimeout time.Duration
	// BeforeCommit runs before every commit (flush the outcome writer).
	BeforeCommit func(ctx context.Context) error
	// Now is the clock of the windows; nil means time.Now.
	Now func() time.Time
}

// Trigger runs the catalog sync for the whole group. It consumes the sync
// topic (one partition: one owner at a time) with the runtime's deferred
// policy and keeps one owner per assigned partition, which coalesces the
// marks with a pipeline.Debouncer and marks them for commit only once a
// regeneration that covers them was accepted by the knowledge base.
//
// Ownership is fenced by the runtime: a revoked partition's worker stops,
// its Marker refuses further marks, and OnRevoked cancels the owner's
// in-flight sync and waits for it before the rebalance completes, so the
// next owner (which re-reads every mark past the committed offset) never
// overlaps with it.
//
// An owner holds no marks in memory: a window is a few times and counters,
// the range of offsets taken is two numbers, and when a sync succeeds (or is
// given up) the covered marks are read again from the sync topic by offset
// to record their outcomes. A long knowledge-base outage costs no memory.
type Trigger struct {
	cfg     TriggerConfig
	kcfg    kafka.Config
	cons    *consume.Consumer
	syncer  Syncer
	dlq     DeadLetterer
	rec     pipeline.OutcomeRecorder
	log     *slog.Logger
	metrics *catalogMetrics
	lag     *kafka.LagMonitor
	adm     *kadm.Client

	// completed are the events of recent successful syncs: a later copy of
	// one is recorded "duplicate" (owner.finish). Bounded.
	completed *pipeline.SeenSet

	mu     sync.Mutex
	owners map[int32]*owner
}

// recentCompleted bounds Trigger.completed: copies of one webhook arrive
// seconds apart, so the last 10,000 events (about 1 MB) are plenty.
const recentCompleted = 10_000

// NewTrigger builds the trigger and its consumer.
func NewTrigger(kcfg kafka.Config, cfg TriggerConfig, syncer Syncer, dlq DeadLetterer, rec pipeline.OutcomeRecorder, log *slog.Logger, reg prometheus.Registerer) (*Trigger, error) {
	if cfg.Group == "" {
		cfg.Group = schemas.GroupCatalog
	}
	if cfg.SyncTopic == "" {
		cfg.SyncTopic = schemas.TopicCatalogSync
	}
	if cfg.Processors == "" {
		cfg.Processors = schemas.GroupProcessor
	}
	if len(cfg.ProductTopics) == 0 {
		cfg.ProductTopics = []string{schemas.TopicProduct}
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = 15 * time.Minute
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Trigger{cfg: cfg, kcfg: kcfg, syncer: syncer, dlq: dlq, rec: rec, log: log.With("component", "catalog-sync"),
		metrics: newCatalogMetrics(reg), owners: map[int32]*owner{}, completed: pipeline.NewSeenSet(recentCompleted)}
	cons, err := consume.New(kcfg, consume.Config{
		Group: cfg.Group, Topics: []string{cfg.SyncTopic}, Role: "catalog-sync",
		SessionTimeout: cfg.SessionTimeout,
		HandleDeferred: t.take,
		OnRevoked:      t.revoked,
		BeforeCommit:   cfg.BeforeCommit,
	}, log, reg)
	if err != nil {
		return nil, err
	}
	t.cons = cons
	t.adm = kadm.NewClient(cons.Client())
	t.lag = kafka.NewLagMonitor(t.adm, map[string][]string{cfg.Processors: cfg.ProductTopics}, time.Minute, log, nil)
	return t, nil
}

// Run consumes marks until ctx ends; owners stop with their partitions.
func (t *Trigger) Run(ctx context.Context) error {
	return t.cons.Run(ctx)
}

// revoked stops the partition's owner and waits for its sync to end, before
// the rebalance lets the next owner start.
func (t *Trigger) revoked(_ context.Context, _ string, partition int32) {
	t.mu.Lock()
	o := t.owners[partition]
	delete(t.owners, partition)
	t.mu.Unlock()
	if o != nil {
		o.stop()
	}
}

// take hands a mark to its partition's owner, starting the owner at the
// partition's first mark. ctx is the partition worker's: the runtime cancels
// it when the partition is revoked or lost, which stops the owner. (The
// owner is not started in an OnAssigned hook: the runtime pauses a
// partition while its hook runs, and a paused partition is fetched again
// only after the fetch in flight returns, up to 5 s later.)
func (t *Trigger) take(ctx context.Context, r *kgo.Record, m consume.Marker) error {
	t.mu.Lock()
	o := t.owners[r.Partition]
	if o == nil || o.ctx.Err() != nil { // first mark, or a worker that replaced a stopped one
		o = newOwner(ctx, t, r.Partition)
		t.owners[r.Partition] = o
		go o.run()
	}
	t.mu.Unlock()
	o.take(r, m)
	return nil
}

// readMarks reads offsets [from, to) of a sync topic partition with a
// short-lived client outside the group.
func (t *Trigger) readMarks(ctx context.Context, partition int32, from, to int64, fn func(*kgo.Record) error) error {
	cl, err := kafka.NewClient(t.kcfg, "catalog-marks-reader", t.log, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	s := consume.Snapshot{Topic: t.cfg.SyncTopic, Spans: map[int32]consume.Span{partition: {Start: from, End: to}}}
	return s.Read(ctx, cl, fn)
}

// outcomeOf is the outcome of one covered event.
func outcomeOf(d pipeline.Delivery, status pipeline.Status, cause error, start, end time.Time) pipeline.Outcome {
	out := pipeline.Outcome{
		EventID: d.Event.ID, EventType: d.Event.Type, EntityID: d.Event.EntityID, Status: status,
		Attempt: d.Attempt, ReceivedAt: d.Event.ReceivedAt, ProcessedAt: end,
		ProcessingMs: float64(end.Sub(start).Microseconds()) / 1000,
		Topic:        d.Topic, Partition: d.Partition, Offset: d.Offset,
	}
	if cause != nil {
		out.Error = cause.Error()
	}
	return out
}
