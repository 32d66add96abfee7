package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/progress"
	"github.com/shopstream/shopstream/schemas"
)

// newOrderLedger builds the processor's order ledger over
// shopstream.order.progress. Its partition p is loaded by the member that
// owns partition p of evershop.order and of every retry tier (they carry
// the order events); register its OnAssigned and OnRevoked with the
// processor's consumer and close it after the consumer stopped.
func newOrderLedger(kcfg kafka.Config, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*progress.Ledger, error) {
	return progress.NewLedger(kcfg, progress.LedgerConfig{
		Topic: schemas.TopicOrderProgress, Aligned: schemas.OrderProgressAligned(cfg.RetryTiers)}, log, reg)
}

// revokedHooks runs several OnRevoked hooks in order (nil ones skipped).
func revokedHooks(hooks ...func(context.Context, string, int32)) func(context.Context, string, int32) {
	return func(ctx context.Context, topic string, p int32) {
		for _, h := range hooks {
			if h != nil {
				h(ctx, topic, p)
			}
		}
	}
}
