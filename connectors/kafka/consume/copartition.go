package consume

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/shopstream/shopstream/internal/clock"
)

var errMissing = errors.New("topic does not exist")

// CheckCoPartitioned reports an error unless every existing topic of topics
// and every topic of with has the same number of partitions: with the range
// balancer, partition p of each is then owned by one member. Topics of
// topics that do not exist yet are not counted (`shopstream topics` creates
// them with the common count); a topic of with (state aligned with the
// consumed partitions, not consumed itself) must exist.
//
// A topic of with that the broker does not know yet is asked again for up
// to metadataGrace: right after `shopstream topics` created it, a loaded
// broker may still answer UNKNOWN_TOPIC_OR_PARTITION (seen in the soak
// benchmark: two of three processors exited at start).
func CheckCoPartitioned(ctx context.Context, adm *kadm.Client, topics []string, with ...string) error {
	var last error
	_ = clock.Poll(ctx, 250*time.Millisecond, metadataGrace, func(ctx context.Context) error {
		last = checkCoPartitioned(ctx, adm, topics, with...)
		if errors.Is(last, errMissing) || errors.Is(last, kerr.UnknownTopicOrPartition) {
			return last // not there yet: ask again
		}
		return nil // checked: last is the answer
	})
	return last
}

// metadataGrace bounds the wait for a just-created aligned state topic.
const metadataGrace = 10 * time.Second

func checkCoPartitioned(ctx context.Context, adm *kadm.Client, topics []string, with ...string) error {
	all := slices.Concat(topics, with)
	td, err := adm.ListTopics(ctx, all...)
	if err != nil {
		return fmt.Errorf("co-partitioning check: list topics: %w", err)
	}
	counts := map[int]bool{}
	var desc []string
	for _, t := range slices.Sorted(slices.Values(all)) {
		d, ok := td[t]
		if !ok || d.Err != nil {
			if slices.Contains(with, t) {
				return fmt.Errorf("topic %s is not available (the processor keeps state aligned with its partitions there): run `shopstream topics`: %w", t, cmp.Or(d.Err, errMissing))
			}
			continue
		}
		n := len(d.Partitions)
		counts[n] = true
		desc = append(desc, fmt.Sprintf("%s=%d", t, n))
	}
	if len(counts) > 1 {
		return fmt.Errorf("topics are not co-partitioned (partition counts %s): every topic the processor reads must have the same partition count; run `shopstream topics` or recreate the topics", strings.Join(desc, ", "))
	}
	return nil
}
