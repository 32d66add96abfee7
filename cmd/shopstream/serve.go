package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"golang.org/x/sync/errgroup"

	"github.com/shopstream/shopstream/connectors/ingress"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

func runServe(ctx context.Context, args []string) error {
	cfg, log, err := commonFlags("serve", args, false, nil)
	if err != nil {
		return err
	}
	if err := requireSecret(cfg); err != nil {
		return err
	}
	reg := newRegistry()
	parts, err := newIngress(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	return runParts(ctx, log, parts...)
}

// part is a long-lived component: it runs until ctx ends, drains, and
// returns. close, when set, runs after every part's Run returned (flush the
// producer after the server stopped accepting).
type part struct {
	name  string
	run   func(ctx context.Context) error
	close func(ctx context.Context) error
}

// runParts runs every part until ctx ends or one fails, then closes them in
// reverse order with a bounded drain.
func runParts(ctx context.Context, log *slog.Logger, parts ...part) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range parts {
		if p.run == nil {
			continue
		}
		g.Go(func() error {
			if err := p.run(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			return nil
		})
	}
	err := g.Wait()
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i].close == nil {
			continue
		}
		if cerr := parts[i].close(drainCtx); cerr != nil {
			log.Error("close failed", "part", parts[i].name, "error", cerr)
			err = errors.Join(err, cerr)
		}
	}
	log.Info("stopped")
	return err
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func kafkaConfig(cfg Config) kafka.Config {
	k := kafka.DefaultConfig()
	k.Brokers = cfg.KafkaBrokers
	k.PublishTimeout = cfg.PublishTimeout
	return k
}

// newIngress wires the webhook listener, the admin listener and the producer.
// The ingress writes the event only: its "received" analytics row is
// recorded by the processor when it first reads the event (docs/contract.md).
func newIngress(ctx context.Context, cfg Config, log *slog.Logger, reg *prometheus.Registry) ([]part, error) {
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
	adm := kadm.NewClient(prod.Client())
	admin := ingress.NewAdmin(cfg.AdminAddr, reg, topicsReady(adm, schemas.SourceTopics), log.With("component", "admin"))
	return []part{
		{name: "ingress", run: srv.Run, close: prod.Close},
		{name: "admin", run: admin.Run},
	}, nil
}

func topicOf(k pipeline.Kind) string {
	t, _ := schemas.TopicForKind(string(k))
	return t
}

// topicsReady is the readiness check: the broker answers and the topics
// this role uses exist.
func topicsReady(adm *kadm.Client, topics []string) ingress.ReadyFunc {
	return func(ctx context.Context) error {
		missing, err := kafka.MissingTopics(ctx, adm, topics)
		if err != nil {
			return fmt.Errorf("kafka unreachable: %w", err)
		}
		if len(missing) > 0 {
			return fmt.Errorf("topics missing (run shopstream topics): %s", strings.Join(missing, ", "))
		}
		return nil
	}
}
