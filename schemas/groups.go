package schemas

import "time"

// ProcessorTopics are the topics the processor group reads: the source
// topics, then one retry tier topic per delay, in tier order. The processor
// group consumes them co-partitioned (docs/contract.md).
func ProcessorTopics(tiers []time.Duration) []string {
	topics := append([]string(nil), SourceTopics...)
	for _, d := range tiers {
		topics = append(topics, RetryTopic(d))
	}
	return topics
}

// ConsumedTopics are the topics a consumer group of shopstream reads, for
// the lag monitor and readiness checks; nil for a group shopstream does not
// run continuously (GroupReplay reads the DLQ only when asked) or does not
// know.
func ConsumedTopics(group string, tiers []time.Duration) []string {
	switch group {
	case GroupProcessor:
		return ProcessorTopics(tiers)
	case GroupCatalog:
		return []string{TopicCatalogSync}
	case GroupSink:
		return []string{TopicEvents}
	case GroupAlerts:
		return []string{TopicAlerts, TopicAlertsDeferred}
	}
	return nil
}

// GroupTopics maps each of groups to ConsumedTopics, the lag monitor's
// input.
func GroupTopics(tiers []time.Duration, groups ...string) map[string][]string {
	out := make(map[string][]string, len(groups))
	for _, g := range groups {
		out[g] = ConsumedTopics(g, tiers)
	}
	return out
}

// OrderProgressAligned are the processor topics that carry order events:
// partition p of each needs partition p of TopicOrderProgress (the order
// ledger) loaded on the member that owns it.
func OrderProgressAligned(tiers []time.Duration) []string {
	topics := []string{TopicOrder}
	for _, d := range tiers {
		topics = append(topics, RetryTopic(d))
	}
	return topics
}

// ProductAligned are the processor topics that carry product events:
// partition p of each needs partition p of TopicAlertState (the store
// alerts' state) loaded on the member that owns it.
func ProductAligned(tiers []time.Duration) []string {
	topics := []string{TopicProduct}
	for _, d := range tiers {
		topics = append(topics, RetryTopic(d))
	}
	return topics
}
