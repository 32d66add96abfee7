package kafka

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// Forwarder moves failed deliveries to the retry tier topics and the DLQ,
// synchronously: the caller marks the source record only after the forward
// is acknowledged. It satisfies pipeline.Forwarder.
type Forwarder struct {
	prod    *Producer
	tiers   []time.Duration
	now     func() time.Time
	retries *prometheus.CounterVec
}

// NewForwarder builds a forwarder over the producer.
func NewForwarder(prod *Producer, tiers []time.Duration, now func() time.Time, reg prometheus.Registerer) *Forwarder {
	if now == nil {
		now = time.Now
	}
	f := &Forwarder{prod: prod, tiers: tiers, now: now,
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopstream_retries_total",
			Help: "Deliveries forwarded to a retry tier, by tier topic.",
		}, []string{"tier"}),
	}
	for _, d := range tiers {
		f.retries.WithLabelValues(schemas.RetryTopic(d))
	}
	if reg != nil {
		reg.MustRegister(f.retries)
	}
	return f
}

// Retry writes d to the tier of decision, due after decision.Delay.
func (f *Forwarder) Retry(ctx context.Context, d pipeline.Delivery, dec pipeline.RetryDecision, cause error) error {
	now := f.now()
	topic := schemas.RetryTopic(f.tiers[dec.Tier])
	rec := DeliveryRecord(topic, d, cause, now)
	SetHeader(rec, schemas.HeaderDueAt, FormatTime(now.Add(dec.Delay)))
	if err := f.prod.Produce(ctx, rec); err != nil {
		return err
	}
	f.retries.WithLabelValues(topic).Inc()
	return nil
}

// DeadLetter writes d to the DLQ: the value is the original body byte for
// byte, the headers say where it came from and why it failed.
func (f *Forwarder) DeadLetter(ctx context.Context, d pipeline.Delivery, cause error) error {
	return f.prod.Produce(ctx, DeliveryRecord(schemas.TopicDLQ, d, cause, f.now()))
}

// DeliveryRecord is the record that carries d onward to topic (a retry
// tier, the DLQ, the catalog's sync marks) with the DLQ contract's headers.
func DeliveryRecord(topic string, d pipeline.Delivery, cause error, now time.Time) *kgo.Record {
	origin := d.Origin
	if origin.Topic == "" {
		origin = pipeline.Origin{Topic: d.Topic, Partition: d.Partition, Offset: d.Offset}
	}
	msg := pipeline.TruncateError(cause)
	rec := &kgo.Record{
		Topic: topic,
		Key:   []byte(d.Event.EntityID),
		Value: d.Event.Body,
		Headers: append(EventHeaders(d.Event),
			kgo.RecordHeader{Key: schemas.HeaderOriginalTopic, Value: []byte(origin.Topic)},
			kgo.RecordHeader{Key: schemas.HeaderOriginalPartition, Value: []byte(strconv.FormatInt(int64(origin.Partition), 10))},
			kgo.RecordHeader{Key: schemas.HeaderOriginalOffset, Value: []byte(strconv.FormatInt(origin.Offset, 10))},
			kgo.RecordHeader{Key: schemas.HeaderAttempts, Value: []byte(strconv.Itoa(d.Attempt))},
			kgo.RecordHeader{Key: schemas.HeaderError, Value: []byte(msg)},
			kgo.RecordHeader{Key: schemas.HeaderFailedAt, Value: []byte(FormatTime(now))},
		),
	}
	if !d.RetrySince.IsZero() {
		// A replayed event keeps its new retry budget through the tiers.
		SetHeader(rec, schemas.HeaderReplayedAt, FormatTime(d.RetrySince))
	}
	return rec
}

// DeliveryFromRecord reads a source, retry-tier or catalog-mark record as a
// delivery. The attempt is one more than the attempts its headers report.
func DeliveryFromRecord(r *kgo.Record) (pipeline.Delivery, error) {
	ev, err := EventFromRecord(r)
	d := pipeline.Delivery{
		Event: ev, Attempt: HeaderInt(r, schemas.HeaderAttempts, 0) + 1,
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Origin: pipeline.Origin{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset},
	}
	if t := Header(r, schemas.HeaderOriginalTopic); t != "" {
		d.Origin = pipeline.Origin{
			Topic:     t,
			Partition: int32(HeaderInt(r, schemas.HeaderOriginalPartition, 0)),
			Offset:    int64(HeaderInt(r, schemas.HeaderOriginalOffset, 0)),
		}
	}
	if t, perr := time.Parse(time.RFC3339Nano, Header(r, schemas.HeaderReplayedAt)); perr == nil {
		// An operator replayed it from the DLQ: its retry budget
		// (pipeline.RetryPolicy.MaxAge) starts again at the replay.
		d.RetrySince = t
	}
	if schemas.IsRetryTopic(r.Topic) || r.Topic == schemas.TopicCatalogSync {
		return d, err
	}
	// A record on a source topic starts over, even if it carries the
	// headers of an earlier life (a replay): attempt 1, origin here.
	d.Attempt = 1
	d.Origin = pipeline.Origin{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	return d, err
}

// DueAt reads the due time of a retry tier record (zero if none).
func DueAt(r *kgo.Record) time.Time {
	t, err := time.Parse(time.RFC3339Nano, Header(r, schemas.HeaderDueAt))
	if err != nil {
		return time.Time{}
	}
	return t
}

// ProcessorHandler adapts the processor to the consumer runtime's per-record
// policy (consume.RecordHandler): a record that is not a webhook at all goes
// straight to the DLQ.
func ProcessorHandler(proc *pipeline.Processor) func(context.Context, *kgo.Record) error {
	return func(ctx context.Context, r *kgo.Record) error {
		d, err := DeliveryFromRecord(r)
		if err != nil {
			return proc.DeadLetter(ctx, d, err)
		}
		return proc.Handle(ctx, d)
	}
}

// ProcessorRunHandler adapts the processor to the consumer runtime's
// per-run policy (consume.RunHandler): a partition's queued records go to
// Processor.HandleBatch together, so their order claims share one ledger
// write; a record that is not a webhook at all goes straight to the DLQ
// between the runs of its neighbours.
func ProcessorRunHandler(proc *pipeline.Processor) func(context.Context, []*kgo.Record) (int, error) {
	return func(ctx context.Context, rs []*kgo.Record) (int, error) {
		ds := make([]pipeline.Delivery, 0, len(rs))
		done := 0 // records before ds
		for i, r := range rs {
			d, err := DeliveryFromRecord(r)
			if err == nil {
				ds = append(ds, d)
				continue
			}
			n, herr := proc.HandleBatch(ctx, ds)
			if herr != nil {
				return done + n, herr
			}
			if err := proc.DeadLetter(ctx, d, err); err != nil {
				return i, err
			}
			ds, done = ds[:0], i+1
		}
		n, err := proc.HandleBatch(ctx, ds)
		return done + n, err
	}
}
