package pipeline

import "time"

// Status is the outcome of one attempt at an event, as analysts see it in
// ClickHouse webhook_events.status.
type Status string

const (
	StatusReceived   Status = "received"   // accepted by the ingress
	StatusCompleted  Status = "completed"  // the action's effect is durable
	StatusRetrying   Status = "retrying"   // failed transiently, sent to a retry tier
	StatusDead       Status = "dead"       // sent to the DLQ
	StatusDuplicate  Status = "duplicate"  // already done for this event id
	StatusSuperseded Status = "superseded" // an order status older than one already sent
	StatusSkipped    Status = "skipped"    // nothing to do (feature flag off, no recipient)
)

// Outcome is one record of evershop.events, keyed by event id. Its JSON form
// is the contract between the ingress/processor and the analytics sink.
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
}
