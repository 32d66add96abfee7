package schemas

import (
	"maps"
	"slices"
	"testing"
	"time"
)

func TestConsumedTopics(t *testing.T) {
	tiers := []time.Duration{2 * time.Second, time.Minute}
	processor := []string{TopicProduct, TopicOrder, TopicCustomer, "evershop.retry.2s", "evershop.retry.1m"}
	cases := []struct {
		group string
		want  []string
	}{
		{GroupProcessor, processor},
		{GroupCatalog, []string{TopicCatalogSync}},
		{GroupSink, []string{TopicEvents}},
		{GroupAlerts, []string{TopicAlerts, TopicAlertsDeferred}},
		{GroupReplay, nil},
		{"someone-else", nil},
	}
	for _, c := range cases {
		t.Run(c.group, func(t *testing.T) {
			if got := ConsumedTopics(c.group, tiers); !slices.Equal(got, c.want) {
				t.Fatalf("ConsumedTopics(%s) = %q, want %q", c.group, got, c.want)
			}
		})
	}
	got := GroupTopics(tiers, GroupProcessor, GroupSink)
	want := map[string][]string{GroupProcessor: processor, GroupSink: {TopicEvents}}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("GroupTopics = %v, want %v", got, want)
	}
}

func TestProcessorTopicsDoesNotShareSourceTopics(t *testing.T) {
	topics := ProcessorTopics([]time.Duration{time.Second})
	topics[0] = "changed"
	if SourceTopics[0] != TopicProduct {
		t.Fatal("ProcessorTopics aliases SourceTopics")
	}
}

func TestOrderProgressAligned(t *testing.T) {
	got := OrderProgressAligned([]time.Duration{2 * time.Second, time.Minute})
	want := []string{TopicOrder, "evershop.retry.2s", "evershop.retry.1m"}
	if !slices.Equal(got, want) {
		t.Fatalf("OrderProgressAligned = %q, want %q", got, want)
	}
	// Every one is a processor topic: its partitions are co-partitioned with
	// the progress topic's.
	for _, topic := range got {
		if !slices.Contains(ProcessorTopics([]time.Duration{2 * time.Second, time.Minute}), topic) {
			t.Errorf("%s is not read by the processor group", topic)
		}
	}
}
