package kafka

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// OutcomeWriter streams outcome records to evershop.events for the
// analytics sink. Recording never blocks or fails the action it describes:
// records are produced asynchronously on a client of their own, and when its
// buffer is full (the broker has been away for long) a record is dropped and
// counted rather than stalling a customer's notification.
type OutcomeWriter struct {
	cl      *kgo.Client
	log     *slog.Logger
	dropped prometheus.Counter
	written prometheus.Counter
	warned  atomic.Bool
}

// The processor and the catalog trigger flush it before they commit.
var _ pipeline.FlushingRecorder = (*OutcomeWriter)(nil)

// NewOutcomeWriter builds the writer's client.
func NewOutcomeWriter(cfg Config, role string, log *slog.Logger, reg prometheus.Registerer) (*OutcomeWriter, error) {
	cl, err := NewClient(cfg, role+"-outcomes", log, reg,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		// Outcomes are not latency critical; batch them.
		kgo.ProducerLinger(20*time.Millisecond),
		// Bounded memory while the broker is away.
		kgo.MaxBufferedRecords(100_000),
		kgo.DefaultProduceTopic(schemas.TopicEvents),
	)
	if err != nil {
		return nil, err
	}
	w := &OutcomeWriter{
		cl:  cl,
		log: log,
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shopstream_outcomes_dropped_total",
			Help: "Outcome records not written to evershop.events (buffer full or produce failed).",
		}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shopstream_outcomes_written_total",
			Help: "Outcome records acknowledged by evershop.events.",
		}),
	}
	if reg != nil {
		// One writer per role; dev runs several roles in one process.
		prometheus.WrapRegistererWith(prometheus.Labels{"role": role}, reg).MustRegister(w.dropped, w.written)
	}
	return w, nil
}

// Record queues one outcome; it returns at once.
func (w *OutcomeWriter) Record(o pipeline.Outcome) {
	value, err := json.Marshal(o)
	if err != nil {
		w.dropped.Inc()
		return
	}
	rec := &kgo.Record{Key: []byte(o.EventID), Value: value}
	w.cl.TryProduce(context.Background(), rec, func(_ *kgo.Record, err error) {
		if err != nil {
			w.dropped.Inc()
			if w.warned.CompareAndSwap(false, true) {
				w.log.Warn("outcome records are being dropped", "error", err)
			}
			return
		}
		w.written.Inc()
		w.warned.Store(false)
	})
}

// Flush waits until every outcome recorded so far is acknowledged (or ctx
// ends). The processor calls it before committing offsets.
func (w *OutcomeWriter) Flush(ctx context.Context) error { return w.cl.Flush(ctx) }

// Close flushes what is buffered (bounded by ctx) and closes the client.
func (w *OutcomeWriter) Close(ctx context.Context) error {
	err := w.cl.Flush(ctx)
	w.cl.Close()
	return err
}
