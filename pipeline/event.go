package pipeline

import (
	"encoding/json"
	"time"
)

// Kind is the entity an event is about; it picks the endpoint and the topic.
type Kind string

const (
	KindProduct  Kind = "product"
	KindOrder    Kind = "order"
	KindCustomer Kind = "customer"
)

// Event types accepted by the ingress, by kind.
const (
	ProductCreated  = "product.created"
	ProductUpdated  = "product.updated"
	ProductDeleted  = "product.deleted"
	OrderCreated    = "order.created"
	OrderUpdated    = "order.updated"
	CustomerCreated = "customer.created"
)

// CatalogRegenerate is an operator's "regenerate the catalog now" (the
// console): a mark on the catalog sync topic with no product behind it,
// which the catalog owner coalesces like a product change. Never accepted
// by the ingress.
const CatalogRegenerate = "catalog.regenerate"

// EventTypes lists the event types each kind's endpoint accepts.
var EventTypes = map[Kind][]string{
	KindProduct:  {ProductCreated, ProductUpdated, ProductDeleted},
	KindOrder:    {OrderCreated, OrderUpdated},
	KindCustomer: {CustomerCreated},
}

// KindOf returns the kind an event type belongs to, or false.
func KindOf(eventType string) (Kind, bool) {
	for k, types := range EventTypes {
		for _, t := range types {
			if t == eventType {
				return k, true
			}
		}
	}
	return "", false
}

// Event is an accepted webhook as it travels through the pipeline: the raw
// body (the value of its Kafka record, never re-serialised) and what was
// learnt from it at the door.
type Event struct {
	ID         string    // idempotency key, from signed bytes only: see EventID
	Type       string    // e.g. "order.updated"
	Kind       Kind      // product, order, customer
	EntityID   string    // Kafka key
	Timestamp  time.Time // the envelope's timestamp (sender's clock)
	ReceivedAt time.Time // when the ingress accepted it
	Body       []byte    // raw request body, byte for byte
	Data       json.RawMessage
}
