package pipeline

import (
	"context"
	"errors"
	"time"
)

// The processor's inputs and collaborators: what a delivery is and the
// interfaces connectors implement for it.

// Notification is one message to a customer through the support inbox. The
// event id is its idempotency key all the way to the inbox backend.
type Notification struct {
	EventID string
	Email   string
	Text    string
	Reason  string // what it announces: "order.updated:shipped", "welcome", ...
}

// Notifier delivers a notification; nil means the inbox stored it.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// Delivery is one attempt at an event: the event and where it came from.
// Attempt is 1 from the source topic, 2 from the first retry tier, ...
type Delivery struct {
	Event     Event
	Attempt   int
	Topic     string // where this attempt was read
	Partition int32
	Offset    int64
	// Origin is where the event was first written (its source topic); a
	// retry tier record carries it in headers, so the DLQ can name it.
	Origin Origin
	// RetrySince is when the event's retry budget (RetryPolicy.MaxAge)
	// started: zero means Event.ReceivedAt. An event an operator replayed
	// from the DLQ starts a new budget at its replay time.
	RetrySince time.Time
}

// Since is when d's retry budget started: RetrySince, else the event's
// receipt.
func (d Delivery) Since() time.Time {
	if !d.RetrySince.IsZero() {
		return d.RetrySince
	}
	return d.Event.ReceivedAt
}

// Origin locates an event's first record.
type Origin struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Forwarder hands a failed delivery on. Both calls return only once the
// record is durable in the tier or dead-letter topic.
type Forwarder interface {
	Retry(ctx context.Context, d Delivery, decision RetryDecision, cause error) error
	DeadLetter(ctx context.Context, d Delivery, cause error) error
}

// CatalogMarker records, durably, that a product event changed the catalog;
// the catalog sync picks it up and covers it.
type CatalogMarker interface {
	MarkCatalog(ctx context.Context, d Delivery) error
}

// OutcomeRecorder records an attempt's outcome for analytics. It must not
// block or fail.
type OutcomeRecorder interface {
	Record(Outcome)
}

// Recorders records each outcome with every recorder in turn (the outcome
// topic and the metrics).
type Recorders []OutcomeRecorder

// Record implements OutcomeRecorder.
func (rs Recorders) Record(o Outcome) {
	for _, r := range rs {
		r.Record(o)
	}
}

// FlushingRecorder is an OutcomeRecorder that buffers (the outcome topic's
// writer): Flush returns once every recorded outcome is durable.
type FlushingRecorder interface {
	OutcomeRecorder
	Flush(ctx context.Context) error
}

// Flush waits for every recorder that buffers.
func (rs Recorders) Flush(ctx context.Context) error {
	var err error
	for _, r := range rs {
		if f, ok := r.(FlushingRecorder); ok {
			err = errors.Join(err, f.Flush(ctx))
		}
	}
	return err
}
