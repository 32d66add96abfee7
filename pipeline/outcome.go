package pipeline

import (
	"time"
	"unicode/utf8"
)

// Status is the outcome of one attempt at an event, as analysts see it in
// ClickHouse webhook_events.status.
type Status string

const (
	// StatusReceived is the first row of every event: the processor records
	// it when it first reads the event from its source topic (the record
	// there is the durable proof of receipt). Earlier versions had the
	// ingress write it; the value is unchanged.
	StatusReceived   Status = "received"
	StatusCompleted  Status = "completed"  // the action's effect is durable
	StatusRetrying   Status = "retrying"   // failed transiently, sent to a retry tier
	StatusDead       Status = "dead"       // sent to the DLQ
	StatusDuplicate  Status = "duplicate"  // already done for this event id
	StatusSuperseded Status = "superseded" // an order status older than one already sent
	StatusSkipped    Status = "skipped"    // nothing to do (feature flag off, no recipient)
	StatusDeferred   Status = "deferred"   // an alert webhook delivery held until the quiet hours end
)

// Outcome is one record of evershop.events, keyed by event id. Its JSON form
// is the contract between the processor/catalog sync and the analytics sink.
// Build it with NewOutcome, so every producer follows one set of rules.
type Outcome struct {
	EventID      string    `json:"event_id"`
	EventType    string    `json:"event_type"`
	EntityID     string    `json:"entity_id"`
	Status       Status    `json:"status"`
	Attempt      int       `json:"attempt"`
	Error        string    `json:"error,omitempty"`
	ReceivedAt   time.Time `json:"received_at"`
	ProcessedAt  time.Time `json:"processed_at"`
	ProcessingMs float64   `json:"processing_ms"`
	Topic        string    `json:"topic"`
	Partition    int32     `json:"partition"`
	Offset       int64     `json:"offset"`
	// Alert rows only (event_type alert.*): the trigger and the values
	// before and after the crossing.
	AlertTrigger string `json:"alert_trigger,omitempty"`
	AlertOld     string `json:"alert_old,omitempty"`
	AlertNew     string `json:"alert_new,omitempty"`
	// Message is the text sent to the customer, on the completed outcome
	// of an event that sent one (the console shows what was sent).
	Message string `json:"message,omitempty"`
}

// MaxErrorText bounds the error text of an outcome and of the DLQ's
// shopstream-error header, in bytes. Long enough for a wrapped chain and a
// downstream's short response body, short enough that a runaway HTML error
// page does not bloat every analytics row.
const MaxErrorText = 1000

// TruncateError renders err for an outcome or a header: "" for nil, else
// its text cut to at most MaxErrorText bytes on a UTF-8 boundary, ending
// in "…" when cut. This is the one truncation rule for recorded errors.
func TruncateError(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) <= MaxErrorText {
		return s
	}
	const ellipsis = "…"
	cut := MaxErrorText - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// NewOutcome is the outcome of one attempt at d that started at start and
// ended at end with status (cause nil on success). Topic, partition and
// offset are where d was read (d.Topic, ...): a caller that reports on
// behalf of another record — the catalog sync reports each product event at
// its origin — passes a Delivery with those fields set to it. The error
// follows TruncateError.
//
// A StatusReceived outcome describes the event's arrival, not an attempt:
// Attempt is 0, ProcessedAt is the event's ReceivedAt and ProcessingMs is 0,
// exactly as the ingress wrote it before, so a received row written by an
// older ingress and one written by the processor collapse into one under
// webhook_events' ReplacingMergeTree key (event_type, event_id, status,
// attempt, topic, partition, offset).
func NewOutcome(d Delivery, status Status, cause error, start, end time.Time) Outcome {
	out := Outcome{
		EventID: d.Event.ID, EventType: d.Event.Type, EntityID: d.Event.EntityID,
		Status: status, Attempt: d.Attempt, Error: TruncateError(cause),
		ReceivedAt: d.Event.ReceivedAt, ProcessedAt: end,
		ProcessingMs: float64(end.Sub(start).Microseconds()) / 1000,
		Topic:        d.Topic, Partition: d.Partition, Offset: d.Offset,
	}
	if status == StatusReceived {
		out.Attempt, out.ProcessedAt, out.ProcessingMs = 0, d.Event.ReceivedAt, 0
	}
	if d.Event.Type == AlertDeliveryType {
		// A delivery row (event_id <message id>@<channel>, entity_id the
		// message id) names the trigger, or "digest".
		if m, err := ParseAlertDelivery(d.Event.Body); err == nil {
			out.AlertTrigger = m.Trigger()
		}
	}
	return out
}
