package consume

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// CheckCoPartitioned reports an error unless every existing topic of topics
// has the same number of partitions: with the range balancer, partition p of
// each is then owned by one member. Topics that do not exist yet are not
// counted (`shopstream topics` creates them with the common count).
func CheckCoPartitioned(ctx context.Context, adm *kadm.Client, topics ...string) error {
	td, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("co-partitioning check: list topics: %w", err)
	}
	counts := map[int]bool{}
	var desc []string
	for _, t := range slices.Sorted(slices.Values(topics)) {
		d, ok := td[t]
		if !ok || d.Err != nil {
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
