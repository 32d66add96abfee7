package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/connectors/ingress"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/sink"
	"github.com/shopstream/shopstream/schemas"
)

func runSink(ctx context.Context, args []string) error {
	cfg, log, err := commonFlags("sink", args, false, nil)
	if err != nil {
		return err
	}
	if cfg.ClickHouseDSN == "" {
		return configErr("clickhouse.dsn", fmt.Errorf("is required for shopstream sink"))
	}
	reg := newRegistry()
	parts, err := newSink(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	cl, err := kafka.NewClient(kafkaConfig(cfg), "sink-admin", log, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	admin := ingress.NewAdmin(cfg.AdminAddr, reg, topicsReady(adm, []string{schemas.TopicEvents, schemas.TopicEventsDLQ}), log.With("component", "admin"))
	lag := kafka.NewLagMonitor(adm, lagGroups(cfg, schemas.GroupSink), 15*time.Second, log, reg)
	return runParts(ctx, log, append(parts, part{name: "admin", run: admin.Run}, part{name: "lag", run: lag.Run})...)
}

// newSink opens ClickHouse, applies the migrations and wires the sink.
func newSink(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) ([]part, error) {
	octx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	store, err := clickhouse.Open(octx, cfg.ClickHouseDSN, clickhouse.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	if _, err := store.Migrate(octx); err != nil {
		_ = store.Close() // the migrate error is the one to report
		return nil, fmt.Errorf("sink: migrate: %w", err)
	}
	s, err := sink.New(ctx, kafkaConfig(cfg), sink.Config{}, store, log, reg)
	if err != nil {
		_ = store.Close() // the sink error is the one to report
		return nil, err
	}
	return []part{{name: "sink", run: s.Run, close: func(context.Context) error { return store.Close() }}}, nil
}

func runMigrate(ctx context.Context, args []string) error {
	cfg, log, err := commonFlags("migrate", args, true, nil)
	if err != nil {
		return err
	}
	if cfg.ClickHouseDSN == "" {
		return configErr("clickhouse.dsn", fmt.Errorf("is required for shopstream migrate"))
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	store, err := clickhouse.Open(ctx, cfg.ClickHouseDSN, clickhouse.WithLogger(log))
	if err != nil {
		return err
	}
	defer func() { _ = store.Close() }() // nothing was written through the pool but the DDL, already applied
	applied, err := store.Migrate(ctx)
	if len(applied) == 0 && err == nil {
		fmt.Println("schema is up to date")
	}
	for _, v := range applied {
		fmt.Printf("applied migration %04d\n", v)
	}
	return err
}
