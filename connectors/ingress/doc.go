// Package ingress is the HTTP front door: the EverShop webhook endpoints and
// the admin listener (health, readiness, metrics). It authenticates and
// validates with pipeline, hands accepted webhooks to a Publisher and answers
// 200 only once the Publisher reports a durable write. The event id comes
// from signed bytes only (pipeline.EventID).
//
// The webhook handler decides (webhook.go: an Accepted or a *RequestError);
// everything around it is chi middleware with one concern each
// (middleware.go): counters and latency for /metrics, a per-request log line
// at debug, and the periodic info summary (summary.go).
//
// It knows nothing of Kafka: the Publisher is declared here and satisfied by
// connectors/kafka.Producer. It records no analytics outcome: the processor
// records "received" when it first reads the event.
package ingress
