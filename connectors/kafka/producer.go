package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/pipeline"
)

// Producer writes records durably: idempotent, acks from all in-sync
// replicas, and it returns only once the broker acknowledged. It satisfies
// the ingress's Publisher.
type Producer struct {
	cl      *kgo.Client
	timeout time.Duration
}

// ErrUnavailable wraps every failure to get an acknowledgement in time; the
// ingress answers it with 503 and Retry-After.
var ErrUnavailable = errors.New("kafka unavailable")

// NewProducer builds the producer client.
func NewProducer(cfg Config, role string, logger *slog.Logger, reg prometheus.Registerer) (*Producer, error) {
	cl, err := NewClient(cfg, role, logger, reg, producerOpts()...)
	if err != nil {
		return nil, err
	}
	return &Producer{cl: cl, timeout: cfg.PublishTimeout}, nil
}

// producerLinger is how long the durable producer waits to batch records
// (see producerOpts).
const producerLinger = 2 * time.Millisecond

// producerOpts are the options of every shopstream producer.
func producerOpts() []kgo.Opt {
	return []kgo.Opt{
		// Never answer 200 before every in-sync replica has the record.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Idempotent writes (franz-go's default, stated for the reader):
		// a retried batch is not written twice and per-partition order holds.
		// kgo.DisableIdempotentWrite() must never be added here.
		//
		// murmur2 over the key, Kafka's own hash, so a record replayed by kcat
		// or the Java client lands in the same partition as the original.
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		// Wait up to 2 ms for more records before building a produce
		// request. Callers wait for the ack, so this is 2 ms on a lone
		// webhook's 200; under concurrency it makes fewer, larger requests,
		// and each request costs the broker (and this client) the same
		// whatever its size: deploy/bench/cost.sh, six interleaved runs,
		// serve + broker 110-155 µs of CPU per accepted webhook without,
		// 80-105 with (the broker's share halved), and more req/s.
		kgo.ProducerLinger(producerLinger),
		// Topics are created by `shopstream topics`; a missing one is an
		// operator error reported quickly, not waited on.
		kgo.UnknownTopicRetries(3),
	}
}

// Publish writes ev to topic and waits for the acknowledgement, at most the
// publish timeout, and says where the record landed. The wait is bounded
// here rather than left to ProduceSync: franz-go checks a buffered record's
// context only between send attempts, so with the broker down ProduceSync
// can wait far past the deadline, and the ingress must answer 503 in time.
// A record given up on may still be written later; the sender was told to
// retry and the event id makes the second copy harmless.
func (p *Producer) Publish(ctx context.Context, topic string, ev pipeline.Event, scheme string) (pipeline.Origin, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	type result struct {
		at  pipeline.Origin
		err error
	}
	done := make(chan result, 1)
	p.cl.Produce(ctx, EventRecord(topic, ev, scheme), func(r *kgo.Record, err error) {
		done <- result{pipeline.Origin{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}, err}
	})
	select {
	case res := <-done:
		if res.err != nil {
			return pipeline.Origin{}, fmt.Errorf("%w: produce to %s: %w", ErrUnavailable, topic, res.err)
		}
		return res.at, nil
	case <-ctx.Done():
		return pipeline.Origin{}, fmt.Errorf("%w: produce to %s: no acknowledgement within %s: %w",
			ErrUnavailable, topic, p.timeout, context.Cause(ctx))
	}
}

// Produce writes one record and waits for its acknowledgement, bounded by the
// publish timeout.
func (p *Producer) Produce(ctx context.Context, rec *kgo.Record) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if err := p.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("%w: produce to %s: %w", ErrUnavailable, rec.Topic, err)
	}
	return nil
}

// Client exposes the underlying client for readiness checks and admin calls.
func (p *Producer) Client() *kgo.Client { return p.cl }

// Close flushes what is buffered (bounded by ctx) and closes the client.
func (p *Producer) Close(ctx context.Context) error {
	err := p.cl.Flush(ctx)
	p.cl.Close()
	if err != nil {
		return fmt.Errorf("flush producer: %w", err)
	}
	return nil
}
