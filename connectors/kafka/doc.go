// Package kafka owns the shared pieces of every conversation with Kafka:
// franz-go client options, the producer, the record encoding of pipeline
// events (headers), the topic plan applied with kadm, the lag monitor, the
// retry/DLQ forwarder, the outcome writer and the embedded kfake broker of
// `shopstream dev`.
//
// The consumer-group runtime lives in consume; the flows built on it live in
// catalog (trigger and state), sink and replay. This package imports none of
// them. It may import pipeline and schemas; pipeline must never import it.
package kafka
