package schemas

import (
	"fmt"
	"strings"
	"time"
)

// Topics that carry accepted webhooks, keyed by entity id. Their names are a
// contract with operators (kcat runbooks, dashboards) and must not drift.
const (
	TopicProduct  = "evershop.product"
	TopicOrder    = "evershop.order"
	TopicCustomer = "evershop.customer"

	// TopicDLQ holds records that exhausted their retries or failed
	// permanently. The value is the original body byte for byte.
	TopicDLQ = "evershop.dlq"

	// TopicEvents carries one outcome record per attempt, keyed by event id,
	// for the analytics sink. It keeps at least EventsRetention.
	TopicEvents = "evershop.events"

	// TopicEventsDLQ is the analytics sink's quarantine: records of
	// TopicEvents that ClickHouse refused for good or that are no outcome
	// at all, byte for byte with their key, plus HeaderError,
	// HeaderErrorReason and the original topic, partition and offset
	// headers. Nothing reads it automatically; an operator inspects it and,
	// once the cause is fixed, copies records back to TopicEvents.
	TopicEventsDLQ = "shopstream.events.dlq"

	// TopicCatalogState is a compacted topic keyed by product id holding the
	// latest known state of each product (tombstone on delete). It is the
	// catalog source when no EverShop admin API is configured.
	TopicCatalogState = "shopstream.catalog.state"

	// TopicAlertState is a compacted topic keyed by product id holding each
	// product's store-alert state (last version applied, stock, price
	// reference, last firing per trigger). Partition-aligned with
	// TopicProduct: same partition count, murmur2 keys.
	TopicAlertState = "shopstream.alert.state"

	// TopicAlerts is a single-partition topic of store alerts (value: the
	// pipeline.Alert as JSON) waiting to be sent: its one owner coalesces
	// bursts into digests.
	TopicAlerts = "shopstream.alerts"

	// TopicAlertsDeferred is a single-partition topic of alert deliveries
	// (pipeline.AlertDelivery JSON, event type alert.delivery) held until
	// the quiet hours end: each carries HeaderDueAt, and the alerts group's
	// worker of the partition holds it until then. Read by GroupAlerts.
	TopicAlertsDeferred = "shopstream.alerts.deferred"

	// TopicCatalogSync is a single-partition topic of "catalog is dirty"
	// marks. Exactly one processor instance owns its partition, so exactly
	// one instance debounces and runs the catalog regeneration for the
	// whole consumer group.
	TopicCatalogSync = "shopstream.catalog.sync"

	// TopicCatalogPublished is a compacted single-partition topic whose
	// one key ("catalog") holds the catalog last handed to the knowledge
	// base: the CSV as the value (up to catalog.MaxKeptCSV, zstd) and what
	// was done with it in a header. The operations console reads it.
	TopicCatalogPublished = "shopstream.catalog.published"

	// TopicOrderProgress is a compacted topic keyed by order id holding each
	// order's current claim in the order ledger (the newest step announced
	// to the customer). It has the processor's partition count and the same
	// key hash as TopicOrder, so partition p is loaded by the member that
	// owns partition p of TopicOrder and of the retry tiers.
	TopicOrderProgress = "shopstream.order.progress"

	// retryTopicPrefix names the retry tier topics: evershop.retry.2s, ...
	retryTopicPrefix = "evershop.retry."
)

// EventsRetention is the least time TopicEvents keeps records: a sink fault
// fixed within it loses no analytics row.
const EventsRetention = 7 * 24 * time.Hour

// SourceTopics are the topics the ingress writes to.
var SourceTopics = []string{TopicProduct, TopicOrder, TopicCustomer}

// RetryTopic names the retry tier topic for a delay: evershop.retry.2s,
// evershop.retry.1m, evershop.retry.500ms.
func RetryTopic(delay time.Duration) string {
	var name string
	switch {
	case delay >= time.Hour && delay%time.Hour == 0:
		name = fmt.Sprintf("%dh", delay/time.Hour)
	case delay >= time.Minute && delay%time.Minute == 0:
		name = fmt.Sprintf("%dm", delay/time.Minute)
	case delay >= time.Second && delay%time.Second == 0:
		name = fmt.Sprintf("%ds", delay/time.Second)
	default:
		name = fmt.Sprintf("%dms", delay/time.Millisecond)
	}
	return retryTopicPrefix + name
}

// IsRetryTopic reports whether topic is a retry tier topic.
func IsRetryTopic(topic string) bool { return strings.HasPrefix(topic, retryTopicPrefix) }

// TopicForKind maps an entity kind (product, order, customer) to its topic.
func TopicForKind(kind string) (string, error) {
	switch kind {
	case "product":
		return TopicProduct, nil
	case "order":
		return TopicOrder, nil
	case "customer":
		return TopicCustomer, nil
	}
	return "", fmt.Errorf("unknown entity kind %q", kind)
}

// Consumer groups. Their names show up in lag dashboards and alerts.
const (
	GroupProcessor = "shopstream-processor"
	GroupCatalog   = "shopstream-catalog"
	GroupSink      = "shopstream-sink"
	GroupReplay    = "shopstream-replay"
	GroupAlerts    = "shopstream-alerts"
)
