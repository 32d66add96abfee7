package kafka

import (
	"testing"
	"time"

	"github.com/shopstream/shopstream/schemas"
)

func TestTopicPlanRetentionFollowsRetryMaxAge(t *testing.T) {
	for _, tc := range []struct {
		maxAge               time.Duration
		wantSource, wantTier string
	}{
		{0, "604800000", "172800000"},                     // default 24 h: tiers 48 h, sources the 7-day floor
		{24 * time.Hour, "604800000", "172800000"},        // same, stated
		{5 * 24 * time.Hour, "864000000", "864000000"},    // 10 days both
		{30 * 24 * time.Hour, "5184000000", "5184000000"}, // the longest max age: 60 days
	} {
		plan := TopicPlan(TopicPlanConfig{Partitions: 3, Replication: 1, RetryTiers: []time.Duration{2 * time.Second, 4 * time.Second},
			DLQRetention: time.Hour, RetryMaxAge: tc.maxAge})
		got := map[string]TopicSpec{}
		for _, s := range plan {
			got[s.Name] = s
		}
		for _, n := range schemas.SourceTopics {
			if v := got[n].Configs["retention.ms"]; v != tc.wantSource {
				t.Errorf("max age %s: %s retention.ms = %s, want %s", tc.maxAge, n, v, tc.wantSource)
			}
		}
		for _, d := range []time.Duration{2 * time.Second, 4 * time.Second} {
			if v := got[schemas.RetryTopic(d)].Configs["retention.ms"]; v != tc.wantTier {
				t.Errorf("max age %s: %s retention.ms = %s, want %s", tc.maxAge, schemas.RetryTopic(d), v, tc.wantTier)
			}
		}
		p := got[schemas.TopicOrderProgress]
		if p.Partitions != got[schemas.TopicOrder].Partitions || p.Configs["cleanup.policy"] != "compact" {
			t.Errorf("%s = %+v: want compacted with %s's partitions", schemas.TopicOrderProgress, p, schemas.TopicOrder)
		}
	}
}
