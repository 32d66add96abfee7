package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// OutcomeStore is where the sink writes outcome rows (ClickHouse).
type OutcomeStore interface {
	InsertOutcomes(ctx context.Context, rows []pipeline.Outcome) error
}

// SinkConfig sizes the sink's batches.
type SinkConfig struct {
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
	cfg     SinkConfig
	cl      *kgo.Client
	store   OutcomeStore
	log     *slog.Logger
	rows    prometheus.Counter
	bad     prometheus.Counter
	fails   prometheus.Counter
	batches prometheus.Histogram
}

// NewSink builds the sink's consumer.
func NewSink(kcfg Config, cfg SinkConfig, store OutcomeStore, log *slog.Logger, reg prometheus.Registerer) (*Sink, error) {
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
	cl, err := NewClient(kcfg, "sink", log, reg, append(groupOpts(cfg.Group, 0, schemas.TopicEvents),
		// Offsets are committed by hand, after the store accepted the rows.
		kgo.DisableAutoCommit(),
		// A rebalance waits until the polled batch is flushed and committed.
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(cfg.FlushInterval),
	)...)
	if err != nil {
		return nil, err
	}
	s.cl = cl
	return s, nil
}

// Run consumes until ctx ends; the batch in hand is flushed before it
// returns (bounded), or left uncommitted for the next run.
func (s *Sink) Run(ctx context.Context) error {
	defer leaveGroup(s.cl)

	batch := make([]pipeline.Outcome, 0, s.cfg.BatchSize)
	var first time.Time
	for {
		pollCtx, cancel := context.WithTimeout(ctx, s.cfg.FlushInterval)
		fetches := s.cl.PollRecords(pollCtx, s.cfg.BatchSize-len(batch))
		cancel()
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				s.log.Warn("fetch error", "topic", t, "partition", p, "error", err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			var o pipeline.Outcome
			if err := json.Unmarshal(r.Value, &o); err != nil || o.EventID == "" {
				s.bad.Inc()
				return
			}
			if len(batch) == 0 {
				first = time.Now()
			}
			batch = append(batch, o)
		})
		stopping := ctx.Err() != nil
		due := len(batch) >= s.cfg.BatchSize || (len(batch) > 0 && time.Since(first) >= s.cfg.FlushInterval)
		if due || stopping {
			flushCtx := ctx
			if stopping {
				var cancel context.CancelFunc
				flushCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
			}
			if err := s.flush(flushCtx, batch); err != nil {
				return nil // stopping mid-outage: nothing committed, nothing lost
			}
			batch = batch[:0]
		}
		if stopping {
			return nil
		}
		s.cl.AllowRebalance()
	}
}

// flush inserts the batch, retrying with backoff until the store accepts it,
// then commits everything polled so far.
func (s *Sink) flush(ctx context.Context, batch []pipeline.Outcome) error {
	b := newBackoff(250*time.Millisecond, 15*time.Second)
	for len(batch) > 0 {
		start := time.Now()
		err := s.store.InsertOutcomes(ctx, batch)
		if err == nil {
			s.batches.Observe(time.Since(start).Seconds())
			s.rows.Add(float64(len(batch)))
			break
		}
		s.fails.Inc()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := b.next()
		s.log.Warn("analytics insert failed; retrying the same batch", "rows", len(batch), "retry_in", wait.String(), "error", err)
		if !sleepCtx(ctx, wait) {
			return ctx.Err()
		}
	}
	if err := s.cl.CommitUncommittedOffsets(ctx); err != nil {
		// The rows are in; a re-delivery is de-duplicated by the table.
		s.log.Warn("commit after insert failed", "error", err)
	}
	return nil
}
