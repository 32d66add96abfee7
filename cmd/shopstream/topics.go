package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/shopstream/shopstream/connectors/kafka"
)

func runTopics(ctx context.Context, args []string) error {
	cfg, log, err := commonFlags(RoleTopics, args, nil)
	if err != nil {
		return err
	}
	reports, err := ensureTopics(ctx, cfg, log, RoleTopics, 60*time.Second)
	for _, r := range reports {
		fmt.Printf("%-28s %s\n", r.Name, r.Action)
	}
	return err
}

// ensureTopics creates or verifies every topic of the plan, within a bound.
func ensureTopics(ctx context.Context, cfg Config, log *slog.Logger, role Role, within time.Duration) ([]kafka.TopicReport, error) {
	cl, err := kafka.NewClient(kafkaConfig(cfg), string(role)+"-topics", log, nil)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	return kafka.EnsureTopics(ctx, kadm.NewClient(cl), topicPlan(cfg))
}

func topicPlan(cfg Config) []kafka.TopicSpec {
	return kafka.TopicPlan(kafka.TopicPlanConfig{
		Partitions:    cfg.Partitions,
		Replication:   cfg.Replication,
		RetryTiers:    cfg.RetryTiers,
		DLQRetention:  cfg.DLQRetention,
		MinInSyncReps: cfg.MinInSyncReplicas,
		RetryMaxAge:   cfg.RetryMaxAge,
	})
}
