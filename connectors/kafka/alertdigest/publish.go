package alertdigest

import (
	"context"
	"encoding/json"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// Publisher is the processors' pipeline.AlertSender: it makes an alert
// durable in the alerts topic and returns once the broker acknowledged it.
type Publisher struct {
	prod    *kafka.Producer
	topic   string
	now     func() time.Time
	metrics *Metrics // nil: not counted
}

// NewPublisher builds the publisher over a shared producer; metrics may be
// nil.
func NewPublisher(prod *kafka.Producer, topic string, now func() time.Time, metrics *Metrics) *Publisher {
	if now == nil {
		now = time.Now
	}
	return &Publisher{prod: prod, topic: topic, now: now, metrics: metrics}
}

// SendAlert implements pipeline.AlertSender.
func (p *Publisher) SendAlert(ctx context.Context, a pipeline.Alert) error {
	b, err := json.Marshal(a)
	if err != nil {
		return pipeline.Permanentf("alert %s: encode: %w", a.ID, err)
	}
	err = p.prod.Produce(ctx, &kgo.Record{Topic: p.topic, Key: []byte("alerts"), Value: b, Timestamp: p.now(),
		Headers: []kgo.RecordHeader{{Key: schemas.HeaderEventID, Value: []byte(a.ID)},
			{Key: schemas.HeaderEventType, Value: []byte(pipeline.AlertEventType(a.Trigger))}}})
	if err == nil && p.metrics != nil {
		p.metrics.raised.WithLabelValues(string(a.Trigger)).Inc()
	}
	return err
}

// Deferrer is the pipeline.AlertDeferrer over the deferred alerts topic
// (schemas.TopicAlertsDeferred): a delivery written there carries
// shopstream-due-at, and the digest group's worker of that partition holds
// it until then. One partition, so the deliveries of a night reach one
// owner together and become one digest.
type Deferrer struct {
	prod    *kafka.Producer
	topic   string
	now     func() time.Time
	metrics *Metrics
}

// NewDeferrer builds the deferrer; metrics may be nil.
func NewDeferrer(prod *kafka.Producer, topic string, now func() time.Time, metrics *Metrics) *Deferrer {
	if now == nil {
		now = time.Now
	}
	return &Deferrer{prod: prod, topic: topic, now: now, metrics: metrics}
}

// Defer implements pipeline.AlertDeferrer; it returns once the broker
// acknowledged the record.
func (d *Deferrer) Defer(ctx context.Context, m pipeline.AlertDelivery, until time.Time) error {
	now := d.now()
	rec, err := DeliveryRecord(d.topic, m, now)
	if err != nil {
		return err
	}
	kafka.SetHeader(rec, schemas.HeaderDueAt, kafka.FormatTime(until))
	if err := d.prod.Produce(ctx, rec); err != nil {
		return err
	}
	if d.metrics != nil {
		d.metrics.deferred.WithLabelValues(string(m.Channel)).Inc()
	}
	return nil
}

// DeliveryRecord is a delivery as a record of an alerts topic: the
// delivery JSON as value, key "alerts" (one partition anyway), the event
// headers of pipeline.AlertDeliveryEvent.
func DeliveryRecord(topic string, m pipeline.AlertDelivery, now time.Time) (*kgo.Record, error) {
	ev, err := pipeline.AlertDeliveryEvent(m, now)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: topic, Key: []byte("alerts"), Value: ev.Body, Timestamp: now, Headers: kafka.EventHeaders(ev)}, nil
}
