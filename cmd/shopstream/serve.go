package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopstream/shopstream/connectors/ingress"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/internal/lifecycle"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

func runServe(ctx context.Context, args []string) error {
	cfg, log, err := commonFlags(RoleServe, args, nil)
	if err != nil {
		return err
	}
	reg := newRegistry()
	parts, err := newIngress(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	admin, err := adminParts(cfg, RoleServe, log, reg)
	if err != nil {
		_ = lifecycle.Close(context.WithoutCancel(ctx), log, parts...) // the wiring error is the one to report
		return err
	}
	return lifecycle.Run(ctx, log, append(parts, admin...)...)
}

// newIngress wires the webhook listener and its producer. The ingress
// writes the event only: its "received" analytics row is recorded by the
// processor when it first reads the event (docs/contract.md).
func newIngress(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) ([]lifecycle.Part, error) {
	prod, err := kafka.NewProducer(kafkaConfig(cfg), "ingress", log, reg)
	if err != nil {
		return nil, err
	}
	srv, err := ingress.New(ingress.Config{
		Addr:            cfg.HTTPAddr,
		MaxBodyBytes:    cfg.MaxBodyBytes,
		RetryAfter:      cfg.RetryAfter,
		Development:     cfg.Development,
		ShutdownTimeout: 15 * time.Second,
		SummaryInterval: 30 * time.Second,
	}, ingress.Deps{
		Verifier:  pipeline.NewVerifier(cfg.Secrets, 0),
		Publisher: prod,
		Logger:    log.With("component", "ingress"),
		Registry:  reg,
		Topic:     topicOf,
	})
	if err != nil {
		_ = prod.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return []lifecycle.Part{{Name: "ingress", Run: srv.Run, Close: prod.Close}}, nil
}

func topicOf(k pipeline.Kind) string {
	t, _ := schemas.TopicForKind(string(k))
	return t
}
