// Package sink streams outcome records (evershop.events) into the analytics
// store. It runs on the consumer runtime's per-batch policy.
package sink

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// OutcomeStore is where the sink writes outcome rows (ClickHouse).
type OutcomeStore interface {
	InsertOutcomes(ctx context.Context, rows []pipeline.Outcome) error
}

// Config sizes the sink's batches.
type Config struct {
	Group         string
	BatchSize     int           // flush at this many rows...
	FlushInterval time.Duration // ...or this long after the batch's first row
}

// Sink streams evershop.events into the analytics store. It commits a
// batch's offsets only after the store accepted the batch; when the store is
// down it keeps retrying the same batch with backoff and commits nothing, so
// an outage delays rows but loses none. A batch delivered twice (a crash
// between insert and commit) is harmless: the table de-duplicates.
type Sink struct {
	cfg     Config
	cons    *consume.Consumer
	store   OutcomeStore
	log     *slog.Logger
	rows    prometheus.Counter
	bad     prometheus.Counter
	fails   prometheus.Counter
	batches prometheus.Histogram
}

// New builds the sink's consumer.
func New(kcfg kafka.Config, cfg Config, store OutcomeStore, log *slog.Logger, reg prometheus.Registerer) (*Sink, error) {
	if cfg.Group == "" {
		cfg.Group = schemas.GroupSink
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 10_000
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	s := &Sink{cfg: cfg, store: store, log: log.With("component", "sink"),
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shopstream_analytics_rows_written_total", Help: "Outcome rows the analytics store accepted.",
		}),
		bad: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shopstream_analytics_rows_invalid_total", Help: "Outcome records that were not valid JSON and were skipped.",
		}),
		fails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shopstream_analytics_insert_failures_total", Help: "Failed batch inserts (each retried until accepted).",
		}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "shopstream_analytics_batch_seconds", Help: "Time to insert one batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 3, 10),
		}),
	}
	if reg != nil {
		reg.MustRegister(s.rows, s.bad, s.fails, s.batches)
	}
	cons, err := consume.New(kcfg, consume.Config{
		Group: cfg.Group, Topics: []string{schemas.TopicEvents}, Role: "sink",
		HandleBatch: s.handle, BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval,
		// Answer a poll within a flush interval when little is there.
		Opts: []kgo.Opt{kgo.FetchMaxWait(cfg.FlushInterval)},
	}, log, reg)
	if err != nil {
		return nil, err
	}
	s.cons = cons
	return s, nil
}

// Run consumes until ctx ends; the batch in hand is flushed before it
// returns (bounded), or left uncommitted for the next run.
func (s *Sink) Run(ctx context.Context) error { return s.cons.Run(ctx) }

// handle decodes a batch (an invalid record is counted and skipped) and
// inserts it, retrying with backoff until the store accepts it or ctx ends;
// the runtime marks the batch only after that.
func (s *Sink) handle(ctx context.Context, recs []*kgo.Record) error {
	batch := make([]pipeline.Outcome, 0, len(recs))
	for _, r := range recs {
		var o pipeline.Outcome
		if err := json.Unmarshal(r.Value, &o); err != nil || o.EventID == "" {
			s.bad.Inc()
			continue
		}
		batch = append(batch, o)
	}
	return s.flush(ctx, batch)
}

// flush inserts the batch, retrying with backoff until the store accepts it.
func (s *Sink) flush(ctx context.Context, batch []pipeline.Outcome) error {
	b := consume.NewBackoff(250*time.Millisecond, 15*time.Second)
	for len(batch) > 0 {
		start := time.Now()
		err := s.store.InsertOutcomes(ctx, batch)
		if err == nil {
			s.batches.Observe(time.Since(start).Seconds())
			s.rows.Add(float64(len(batch)))
			return nil
		}
		s.fails.Inc()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := b.Next()
		s.log.Warn("analytics insert failed; retrying the same batch", "rows", len(batch), "retry_in", wait.String(), "error", err)
		if !consume.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
	return nil
}
