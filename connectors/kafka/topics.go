package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/shopstream/shopstream/internal/clock"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// TopicSpec is one topic of the plan.
type TopicSpec struct {
	Name        string
	Partitions  int32
	Replication int16
	Configs     map[string]string
}

// TopicPlanConfig sizes the plan.
type TopicPlanConfig struct {
	Partitions    int32           // source, retry and events topics
	Replication   int16           // every topic
	RetryTiers    []time.Duration // one retry topic per delay
	DLQRetention  time.Duration   // how long dead letters wait for an operator
	MinInSyncReps int             // min.insync.replicas (1 on a single broker)
	// RetryMaxAge is SHOPSTREAM_RETRY_MAX_AGE: how long an event may be
	// retried or held. Source and retry topics keep records at least twice
	// as long (SourceRetention), so no record a processor still has to
	// handle is deleted under it.
	RetryMaxAge time.Duration
}

// MinSourceRetention is the least retention of the source topics, whatever
// the retry max age: a processor group stopped over a long weekend loses
// nothing.
const MinSourceRetention = 7 * 24 * time.Hour

// SourceRetention is the retention of the source topics: twice the retry
// max age, at least MinSourceRetention.
func (c TopicPlanConfig) SourceRetention() time.Duration {
	return max(2*c.retryMaxAge(), MinSourceRetention)
}

// RetryRetention is the retention of the retry topics: twice the retry max
// age (a record can wait in a tier at most the max age, plus the clamp).
func (c TopicPlanConfig) RetryRetention() time.Duration { return 2 * c.retryMaxAge() }

func (c TopicPlanConfig) retryMaxAge() time.Duration {
	if c.RetryMaxAge <= 0 {
		return pipeline.DefaultRetryMaxAge
	}
	return c.RetryMaxAge
}

func retentionMs(d time.Duration) map[string]string {
	return map[string]string{"retention.ms": strconv.FormatInt(d.Milliseconds(), 10)}
}

// TopicPlan lists every topic shopstream needs, with the settings each one's
// job asks for.
func TopicPlan(c TopicPlanConfig) []TopicSpec {
	base := map[string]string{}
	if c.MinInSyncReps > 0 {
		base["min.insync.replicas"] = strconv.Itoa(c.MinInSyncReps)
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	var plan []TopicSpec
	// Source and retry topics outlive the longest an event may be retried
	// or held (SHOPSTREAM_RETRY_MAX_AGE) twice over: a held partition is
	// alerted on well before its records could reach the retention.
	for _, t := range schemas.SourceTopics {
		plan = append(plan, TopicSpec{t, c.Partitions, c.Replication, with(retentionMs(c.SourceRetention()))})
	}
	for _, d := range c.RetryTiers {
		plan = append(plan, TopicSpec{schemas.RetryTopic(d), c.Partitions, c.Replication, with(retentionMs(c.RetryRetention()))})
	}
	plan = append(plan,
		// Dead letters wait for a person; keep them long.
		TopicSpec{schemas.TopicDLQ, c.Partitions, c.Replication,
			with(map[string]string{"retention.ms": strconv.FormatInt(c.DLQRetention.Milliseconds(), 10)})},
		// Outcome records wait here while the sink or ClickHouse is down:
		// a fault fixed within EventsRetention loses no analytics row.
		TopicSpec{schemas.TopicEvents, c.Partitions, c.Replication,
			with(map[string]string{"retention.ms": strconv.FormatInt(schemas.EventsRetention.Milliseconds(), 10)})},
		// Outcome records the sink set aside (ClickHouse refused them, or
		// they are no outcome): they wait for a person, like dead letters.
		TopicSpec{schemas.TopicEventsDLQ, c.Partitions, c.Replication,
			with(map[string]string{"retention.ms": strconv.FormatInt(c.DLQRetention.Milliseconds(), 10)})},
		// Latest state per product id, tombstones on delete: a compacted
		// topic is the catalog when no EverShop API is configured.
		TopicSpec{schemas.TopicCatalogState, c.Partitions, c.Replication,
			with(map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"})},
		// Each order's current claim in the order ledger, keyed by order id:
		// compacted (one record per order), the processor's partition count
		// so that partition p sits with evershop.order partition p. Written
		// with an explicit partition, read in full on assignment.
		TopicSpec{schemas.TopicOrderProgress, c.Partitions, c.Replication,
			with(map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"})},
		// Store-alert state per product id, aligned with evershop.product.
		TopicSpec{schemas.TopicAlertState, c.Partitions, c.Replication,
			with(map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"})},
		// Store alerts waiting to be sent; one partition, one digest owner.
		TopicSpec{schemas.TopicAlerts, 1, c.Replication,
			with(map[string]string{"retention.ms": strconv.FormatInt(7*24*time.Hour.Milliseconds(), 10)})},
		// Webhook alert deliveries held through the quiet hours (at most a
		// day), then sent as one digest; one partition, one owner.
		TopicSpec{schemas.TopicAlertsDeferred, 1, c.Replication,
			with(map[string]string{"retention.ms": strconv.FormatInt(7*24*time.Hour.Milliseconds(), 10)})},
		// One partition: its single owner is the one debouncer of the group.
		TopicSpec{schemas.TopicCatalogSync, 1, c.Replication, with(nil)},
		// The catalog last published, CSV included, under one key: compacted,
		// and big enough for catalog.MaxKeptCSV compressed or not.
		TopicSpec{schemas.TopicCatalogPublished, 1, c.Replication,
			with(map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": "60000",
				"max.message.bytes": strconv.Itoa(PublishedMaxMessageBytes)})},
	)
	return plan
}

// PublishedMaxMessageBytes is max.message.bytes of
// schemas.TopicCatalogPublished: a kept CSV (at most 8 MiB) plus its
// header and the batch framing, even if it does not compress.
const PublishedMaxMessageBytes = 8<<20 + 64<<10

// TopicReport says what EnsureTopics did to each topic.
type TopicReport struct {
	Name   string
	Action string // "created", "ok", "partitions raised to N"
}

// EnsureTopics creates the missing topics of plan and verifies the existing
// ones: a topic with fewer partitions than planned is raised (never lowered,
// that would move keys), configs are brought in line.
func EnsureTopics(ctx context.Context, adm *kadm.Client, plan []TopicSpec) ([]TopicReport, error) {
	names := make([]string, len(plan))
	for i, s := range plan {
		names[i] = s.Name
	}
	existing, err := listFresh(ctx, adm, names...)
	if err != nil {
		return nil, err
	}
	var reports []TopicReport
	for _, spec := range plan {
		detail, ok := existing[spec.Name]
		if !ok || errors.Is(detail.Err, kerr.UnknownTopicOrPartition) {
			created, err := createTopic(ctx, adm, spec)
			if err != nil {
				return reports, err
			}
			if created {
				reports = append(reports, TopicReport{spec.Name, "created"})
				continue
			}
			// Someone created it meanwhile (another `shopstream topics`,
			// an older plan): verify it like any existing topic.
			again, err := listFresh(ctx, adm, spec.Name)
			if err != nil {
				return reports, err
			}
			detail = again[spec.Name]
		}
		if detail.Err != nil {
			return reports, fmt.Errorf("describe topic %s: %w", spec.Name, detail.Err)
		}
		action, err := verifyTopic(ctx, adm, spec, int32(len(detail.Partitions)))
		if err != nil {
			return reports, err
		}
		reports = append(reports, TopicReport{spec.Name, action})
	}
	return reports, nil
}

// listFresh lists topics bypassing the client's metadata cache (asking for
// authorized operations makes kadm issue a real request), so a topic created
// a moment ago by someone else is seen.
func listFresh(ctx context.Context, adm *kadm.Client, names ...string) (kadm.TopicDetails, error) {
	details, err := adm.ListTopics(kadm.WithAuthorizedOps(ctx), names...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	return details, nil
}

// createTopic creates spec's topic; false (and no error) means it existed.
func createTopic(ctx context.Context, adm *kadm.Client, spec TopicSpec) (bool, error) {
	configs := map[string]*string{}
	for k, v := range spec.Configs {
		configs[k] = kadm.StringPtr(v)
	}
	resp, err := adm.CreateTopic(ctx, spec.Partitions, spec.Replication, configs, spec.Name)
	if err == nil {
		err = resp.Err
	}
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("create topic %s: %w", spec.Name, err)
	}
	return true, nil
}

// verifyTopic raises a topic's partitions to the plan (never lowers them:
// that would move keys) and brings its configs in line.
func verifyTopic(ctx context.Context, adm *kadm.Client, spec TopicSpec, have int32) (string, error) {
	action := "ok"
	if have < spec.Partitions {
		resps, err := adm.UpdatePartitions(ctx, int(spec.Partitions), spec.Name)
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			return "", fmt.Errorf("raise partitions of %s to %d: %w", spec.Name, spec.Partitions, err)
		}
		action = fmt.Sprintf("partitions raised from %d to %d", have, spec.Partitions)
	}
	if len(spec.Configs) == 0 {
		return action, nil
	}
	var alter []kadm.AlterConfig
	for k, v := range spec.Configs {
		alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
	}
	slices.SortFunc(alter, func(a, b kadm.AlterConfig) int { return strings.Compare(a.Name, b.Name) })
	resps, err := adm.AlterTopicConfigs(ctx, alter, spec.Name)
	if err == nil {
		for _, r := range resps {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("set configs of %s: %w", spec.Name, err)
	}
	if err := awaitConfigs(ctx, adm, spec); err != nil {
		return "", err
	}
	return action, nil
}

// configSettleTimeout bounds how long a config change may take to show in
// DescribeConfigs: the broker answers the alter before every broker's view
// (even a single node's) has applied it.
const configSettleTimeout = 10 * time.Second

// awaitConfigs reads the configs back until they match or the settle time
// is over; only then is a mismatch an error.
func awaitConfigs(ctx context.Context, adm *kadm.Client, spec TopicSpec) error {
	return clock.Poll(ctx, 200*time.Millisecond, configSettleTimeout, func(ctx context.Context) error {
		return checkConfigs(ctx, adm, spec)
	})
}

// checkConfigs reads spec's topic configs back: a broker that accepted
// the change but holds another value (a policy, a read-only config) is an
// error, so `shopstream topics` succeeding means, for example, that
// evershop.events keeps its records for the planned retention.
func checkConfigs(ctx context.Context, adm *kadm.Client, spec TopicSpec) error {
	rcs, err := adm.DescribeTopicConfigs(ctx, spec.Name)
	if err != nil {
		return fmt.Errorf("describe configs of %s: %w", spec.Name, err)
	}
	rc, err := rcs.On(spec.Name, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return fmt.Errorf("describe configs of %s: %w", spec.Name, err)
	}
	for k, want := range spec.Configs {
		i := slices.IndexFunc(rc.Configs, func(c kadm.Config) bool { return c.Key == k })
		if i < 0 {
			return fmt.Errorf("topic %s: config %s is not described", spec.Name, k)
		}
		if got := rc.Configs[i].MaybeValue(); got != want {
			return fmt.Errorf("topic %s: %s is %q after setting %q", spec.Name, k, got, want)
		}
	}
	return nil
}

// MissingTopics returns the topics of names that the cluster does not have.
// It is the readiness check of every role.
func MissingTopics(ctx context.Context, adm *kadm.Client, names []string) ([]string, error) {
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	var missing []string
	for _, n := range names {
		if !details.Has(n) {
			missing = append(missing, n)
		}
	}
	return missing, nil
}
