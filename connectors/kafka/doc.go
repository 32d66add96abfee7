// Package kafka owns every conversation with Kafka: franz-go client options,
// the ingress producer, the topic plan applied with kadm, the record encoding
// of pipeline events, and the embedded kfake broker of `shopstream dev`.
//
// It may import pipeline and schemas; pipeline must never import it.
package kafka
