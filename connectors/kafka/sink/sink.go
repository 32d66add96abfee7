// Package sink streams outcome records (evershop.events) into the analytics
// store on the consumer runtime's per-batch policy. A batch is committed
// once every record of it is durable somewhere: in the store or, when the
// store refuses it for good or it is no outcome at all, in the quarantine
// topic shopstream.events.dlq (quarantine.go). While the store or the
// broker is away the batch is held and retried, never skipped. It must not
// import the ClickHouse connector: cmd wires the store in.
package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/internal/clock"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// OutcomeStore is where the sink writes outcome rows (ClickHouse's
// webhook_events). WriteOutcomes writes rows and returns, by index, those
// it refuses for good (an error may name its reason, see reasoned); every
// other row is written. A non-nil err means nothing can be said about the
// batch (the store is away): the sink retries it whole, so writing a row
// twice must be harmless.
type OutcomeStore interface {
	WriteOutcomes(ctx context.Context, rows []pipeline.Outcome) (rejected map[int]error, err error)
}

// Config sizes the sink's batches.
type Config struct {
	Group         string
	BatchSize     int           // flush at this many rows...
	FlushInterval time.Duration // ...or this long after the batch's first row
	// Topic is what the sink reads (schemas.TopicEvents) and
	// QuarantineTopic where it sets records aside (schemas.TopicEventsDLQ).
	Topic, QuarantineTopic string
	// RetryMin and RetryMax bound the backoff while the store or the broker
	// is away (250 ms, 10 s): a store back from an outage is written to
	// within RetryMax.
	RetryMin, RetryMax time.Duration
	// Now stamps shopstream-failed-at (time.Now).
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Group == "" {
		c.Group = schemas.GroupSink
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 10_000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.Topic == "" {
		c.Topic = schemas.TopicEvents
	}
	if c.QuarantineTopic == "" {
		c.QuarantineTopic = schemas.TopicEventsDLQ
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 250 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Sink streams evershop.events into the analytics store. A batch delivered
// twice (a crash between insert and commit) is harmless: the table
// collapses duplicates.
type Sink struct {
	cfg   Config
	cons  *consume.Consumer
	store OutcomeStore
	dlq   *kafka.Producer
	log   *slog.Logger
	m     metrics
}

type metrics struct {
	rows        prometheus.Counter
	bad         prometheus.Counter
	fails       prometheus.Counter
	batches     prometheus.Histogram
	quarantined *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shopstream_analytics_rows_written_total", Help: "Outcome rows the analytics store accepted.",
		}),
		bad: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shopstream_analytics_rows_invalid_total",
			Help: "Records of evershop.events that are no outcome record (also in shopstream_sink_quarantined_total).",
		}),
		fails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shopstream_analytics_insert_failures_total",
			Help: "Batch inserts that failed because the store was away or not set up (each retried until accepted).",
		}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "shopstream_analytics_batch_seconds", Help: "Time to insert one batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 3, 10),
		}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: schemas.MetricSinkQuarantined,
			Help: "Records of evershop.events set aside in shopstream.events.dlq instead of the store, by reason.",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.rows, m.bad, m.fails, m.batches, m.quarantined)
	}
	return m
}

// New builds the sink's consumer and the producer of its quarantine topic.
func New(ctx context.Context, kcfg kafka.Config, cfg Config, store OutcomeStore, log *slog.Logger, reg prometheus.Registerer) (*Sink, error) {
	cfg.defaults()
	s := &Sink{cfg: cfg, store: store, log: log.With("component", "sink"), m: newMetrics(reg)}
	dlq, err := kafka.NewProducer(kcfg, "sink-quarantine", log, reg)
	if err != nil {
		return nil, err
	}
	cons, err := consume.New(kcfg, consume.Config{
		Group: cfg.Group, Topics: []string{cfg.Topic}, Role: "sink",
		HandleBatch: s.handle, BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval,
		RetryMin: cfg.RetryMin, RetryMax: cfg.RetryMax,
		// Answer a poll within a flush interval when little is there.
		Opts: []kgo.Opt{kgo.FetchMaxWait(cfg.FlushInterval)},
	}, log, reg)
	if err != nil {
		_ = dlq.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	s.cons, s.dlq = cons, dlq
	return s, nil
}

// Run consumes until ctx ends; the batch in hand is flushed before it
// returns (bounded), or left uncommitted for the next run.
func (s *Sink) Run(ctx context.Context) error {
	err := s.cons.Run(ctx)
	// Every quarantine write was acknowledged before its batch was marked:
	// nothing is buffered, closing is quick.
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return errors.Join(err, s.dlq.Close(closeCtx))
}

// handle makes a batch durable: every outcome the store takes is written,
// every other record quarantined. It returns nil once that holds, and an
// error only when ctx ended first (revoke, shutdown): the runtime then
// marks nothing and the batch is read again.
func (s *Sink) handle(ctx context.Context, recs []*kgo.Record) error {
	rows := make([]pipeline.Outcome, 0, len(recs))
	from := make([]*kgo.Record, 0, len(recs))
	var bad []rejection
	for _, r := range recs {
		o, rej := decode(r)
		if rej != nil {
			s.m.bad.Inc()
			bad = append(bad, *rej)
			continue
		}
		rows = append(rows, o)
		from = append(from, r)
	}
	rejected, err := s.insert(ctx, rows)
	if err != nil {
		return err
	}
	for _, i := range slices.Sorted(maps.Keys(rejected)) {
		bad = append(bad, rejection{rec: from[i], reason: reasonOf(rejected[i]), err: rejected[i]})
	}
	return s.quarantine(ctx, bad)
}

// decode reads r as an outcome; a record that is none is a rejection.
func decode(r *kgo.Record) (pipeline.Outcome, *rejection) {
	var o pipeline.Outcome
	if err := json.Unmarshal(r.Value, &o); err != nil {
		return o, &rejection{rec: r, reason: reasonUndecodable, err: fmt.Errorf("decode outcome: %w", err)}
	}
	if o.EventID == "" {
		return o, &rejection{rec: r, reason: reasonNoEventID, err: errors.New("decode outcome: no event_id")}
	}
	return o, nil
}

// insert writes rows, retrying with backoff for as long as the store is
// away (at the pace it asks for, if slower), and returns what it refused.
func (s *Sink) insert(ctx context.Context, rows []pipeline.Outcome) (map[int]error, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	b := clock.NewBackoff(s.cfg.RetryMin, s.cfg.RetryMax)
	for {
		start := time.Now()
		rejected, err := s.store.WriteOutcomes(ctx, rows)
		if err == nil {
			s.m.batches.Observe(time.Since(start).Seconds())
			s.m.rows.Add(float64(len(rows) - len(rejected)))
			return rejected, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.m.fails.Inc()
		wait := b.Next()
		if after, ok := pipeline.RetryAfter(err); ok && after > wait {
			wait = after
		}
		s.log.Warn("analytics insert failed; retrying the same batch", "rows", len(rows), "retry_in", wait.String(), "error", err)
		if clock.Sleep(ctx, wait) != nil {
			return nil, ctx.Err()
		}
	}
}
