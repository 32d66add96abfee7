// Package ingress is the HTTP front door: the EverShop webhook endpoints and
// the admin listener (health, readiness, metrics). It authenticates and
// validates with pipeline, hands accepted webhooks to a Publisher and answers
// 200 only once the Publisher reports a durable write.
//
// It knows nothing of Kafka: the Publisher is declared here and satisfied by
// connectors/kafka.Producer.
package ingress
