package kafka

import (
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// EventRecord encodes an accepted webhook as a Kafka record: the raw body as
// the value, the entity id as the key (so murmur2 keeps an entity in one
// partition), and the headers operators and the processor read.
func EventRecord(topic string, ev pipeline.Event, scheme string) *kgo.Record {
	return &kgo.Record{
		Topic: topic,
		Key:   []byte(ev.EntityID),
		Value: ev.Body,
		Headers: append(EventHeaders(ev),
			kgo.RecordHeader{Key: schemas.HeaderSignatureScheme, Value: []byte(scheme)}),
	}
}

// EventHeaders are the headers that name an event on every record that
// carries it (source, retry tier, DLQ, catalog state and marks): its id,
// type and the time the ingress received it. EventFromRecord reads them.
func EventHeaders(ev pipeline.Event) []kgo.RecordHeader {
	return []kgo.RecordHeader{
		{Key: schemas.HeaderEventID, Value: []byte(ev.ID)},
		{Key: schemas.HeaderEventType, Value: []byte(ev.Type)},
		{Key: schemas.HeaderReceivedAt, Value: []byte(FormatTime(ev.ReceivedAt))},
	}
}

// EventFromRecord decodes a record of a source, retry or DLQ topic back into
// a pipeline event. A record that lost its headers on the way (an operator
// replayed it with `kcat -P`, which carries key and value only) is
// re-derived from the body exactly as the ingress would have: the event id
// becomes the body hash and the type comes from the envelope.
func EventFromRecord(r *kgo.Record) (pipeline.Event, error) {
	ev := pipeline.Event{
		ID:       Header(r, schemas.HeaderEventID),
		Type:     Header(r, schemas.HeaderEventType),
		EntityID: string(r.Key),
		Body:     r.Value,
	}
	if ts := Header(r, schemas.HeaderReceivedAt); ts != "" {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			ev.ReceivedAt = t
		}
	}
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = r.Timestamp
	}
	if ev.ID == "" {
		ev.ID = pipeline.BodyEventID(r.Value)
	}
	if ev.Type == pipeline.AlertDeliveryType {
		// An alert message on its way to a channel (a retry tier, the DLQ,
		// a replay): its value is the delivery, not a webhook envelope.
		return ev, nil
	}
	kind, env, err := pipeline.ParseAnyEnvelope(r.Value)
	if err != nil {
		return ev, pipeline.Permanent(fmt.Errorf("record %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err))
	}
	ev.Kind, ev.Type, ev.Timestamp, ev.Data = kind, env.Event, env.Timestamp, env.Data
	if ev.EntityID == "" {
		ev.EntityID = env.EntityID
	}
	return ev, nil
}

// Header returns the last value of header key, or "".
func Header(r *kgo.Record, key string) string {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return string(r.Headers[i].Value)
		}
	}
	return ""
}

// HeaderInt returns header key as an int, or def.
func HeaderInt(r *kgo.Record, key string, def int) int {
	if v, err := strconv.Atoi(Header(r, key)); err == nil {
		return v
	}
	return def
}

// SetHeader replaces (or adds) header key.
func SetHeader(r *kgo.Record, key, value string) {
	for i := range r.Headers {
		if r.Headers[i].Key == key {
			r.Headers[i].Value = []byte(value)
			return
		}
	}
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

// FormatTime is the one time format of shopstream headers.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
