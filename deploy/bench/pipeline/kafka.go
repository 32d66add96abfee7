package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// resetKafka deletes every evershop.* and shopstream.* topic and every
// shopstream-* consumer group, and waits until the broker no longer lists
// them, so that the run starts from empty topics and no committed offsets.
// A group that still has members (a previous run's process that was killed,
// before its session timed out) is retried until the broker lets it go.
func resetKafka(ctx context.Context, brokers []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	ours := func(name string) bool {
		return strings.HasPrefix(name, "evershop.") || strings.HasPrefix(name, "shopstream.")
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	doomed := slices.DeleteFunc(topics.Names(), func(n string) bool { return !ours(n) })
	if len(doomed) > 0 {
		rs, err := adm.DeleteTopics(ctx, doomed...)
		if err != nil {
			return fmt.Errorf("delete topics: %w", err)
		}
		for _, r := range rs {
			if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
				return fmt.Errorf("delete topic %s: %w", r.Topic, r.Err)
			}
		}
	}

	lastLog := time.Now()
	for {
		var left []string
		groups, err := adm.ListGroups(ctx)
		if err != nil {
			return fmt.Errorf("list groups: %w", err)
		}
		var mine []string
		for _, g := range groups.Groups() {
			if strings.HasPrefix(g, "shopstream-") {
				mine = append(mine, g)
			}
		}
		if len(mine) > 0 {
			rs, err := adm.DeleteGroups(ctx, mine...)
			if err != nil {
				return fmt.Errorf("delete groups: %w", err)
			}
			for _, r := range rs {
				switch {
				case r.Err == nil, errors.Is(r.Err, kerr.GroupIDNotFound):
				case errors.Is(r.Err, kerr.NonEmptyGroup):
					left = append(left, r.Group+" (still has members)")
				default:
					return fmt.Errorf("delete group %s: %w", r.Group, r.Err)
				}
			}
		}
		topics, err := adm.ListTopics(ctx)
		if err != nil {
			return fmt.Errorf("list topics: %w", err)
		}
		for _, n := range topics.Names() {
			if ours(n) {
				left = append(left, n)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			logf("reset: waiting for %s", strings.Join(left, ", "))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still present: %s: %w", strings.Join(left, ", "), context.Cause(ctx))
		case <-time.After(500 * time.Millisecond):
		}
	}
}
