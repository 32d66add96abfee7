package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/connectors/kafka/sink"
	"github.com/shopstream/shopstream/internal/lifecycle"
	"github.com/shopstream/shopstream/schemas"
)

func runSink(ctx context.Context, args []string) error {
	cfg, log, err := commonFlags(RoleSink, args, nil)
	if err != nil {
		return err
	}
	reg := newRegistry()
	parts, err := newSink(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	admin, err := adminParts(cfg, RoleSink, log, reg, schemas.GroupSink)
	if err != nil {
		_ = lifecycle.Close(context.WithoutCancel(ctx), log, parts...) // the wiring error is the one to report
		return err
	}
	return lifecycle.Run(ctx, log, append(parts, admin...)...)
}

// newSink opens ClickHouse, applies the migrations and wires the sink.
func newSink(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) ([]lifecycle.Part, error) {
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
	return []lifecycle.Part{{Name: "sink", Run: s.Run, Close: func(context.Context) error { return store.Close() }}}, nil
}

func runMigrate(ctx context.Context, args []string) error {
	cfg, log, err := commonFlags(RoleMigrate, args, nil)
	if err != nil {
		return err
	}
	// Long enough for a migration that backfills (0003 copies the whole
	// table: minutes on a week of data), see schemas/clickhouse/README.md.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Hour)
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
