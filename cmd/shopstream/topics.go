package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/shopstream/shopstream/connectors/kafka"
)

func runTopics(ctx context.Context, args []string) error {
	cfg, log, err := commonFlags("topics", args, false, nil)
	if err != nil {
		return err
	}
	cl, err := kafka.NewClient(kafkaConfig(cfg), "topics", log, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	reports, err := kafka.EnsureTopics(ctx, kadm.NewClient(cl), topicPlan(cfg))
	for _, r := range reports {
		fmt.Printf("%-28s %s\n", r.Name, r.Action)
	}
	return err
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
