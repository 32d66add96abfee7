// Package ceiling is the benchmarks' no-write ceiling: the webhook listener
// as `shopstream serve` builds it (defaults, verifier, metrics registry,
// JSON logs at info), with a publisher that accepts every event at once,
// what the ingress would do with an infinitely fast, always available
// broker. deploy/bench/loadgen and deploy/bench/pipeline (-cost) both
// compare `serve` with it.
package ceiling

import (
	"context"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shopstream/shopstream/connectors/ingress"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// noopPublisher accepts every event at once.
type noopPublisher struct{}

func (noopPublisher) Publish(context.Context, string, pipeline.Event, string) (pipeline.Origin, error) {
	return pipeline.Origin{}, nil
}

// Serve runs the listener on addr until ctx ends; command names the
// benchmark in its log lines.
func Serve(ctx context.Context, addr string, secrets []pipeline.Secret, command string) error {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("command", command)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg := ingress.DefaultConfig()
	cfg.Addr = addr
	srv, err := ingress.New(cfg, ingress.Deps{
		Verifier:  pipeline.NewVerifier(secrets, 0),
		Publisher: noopPublisher{},
		Logger:    log.With("component", "ingress"),
		Registry:  reg,
		Topic: func(k pipeline.Kind) string {
			t, _ := schemas.TopicForKind(string(k))
			return t
		},
	})
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}
