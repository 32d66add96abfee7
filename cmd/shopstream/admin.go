package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/shopstream/shopstream/connectors/ingress"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/internal/lifecycle"
	"github.com/shopstream/shopstream/schemas"
)

// adminParts are a role's operator parts: the admin listener (/healthz;
// /readyz: the broker answers and the topics the role uses exist;
// /metrics of reg) and, when groups are named, the lag monitor of those
// consumer groups. Name only the groups that run in this process: a group
// that never joins is a warning every interval.
func adminParts(cfg Config, role Role, log *slog.Logger, reg *prometheus.Registry, groups ...string) ([]lifecycle.Part, error) {
	cl, err := kafka.NewClient(kafkaConfig(cfg), string(role)+"-admin", log, nil)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	admin := ingress.NewAdmin(cfg.AdminAddr, reg, topicsReady(adm, readyTopics(cfg, role)), log.With("component", "admin"))
	parts := []lifecycle.Part{{Name: "admin", Run: admin.Run, Close: func(context.Context) error { cl.Close(); return nil }}}
	if len(groups) > 0 {
		interval := 15 * time.Second
		if role == RoleDev {
			interval = 5 * time.Second // someone is watching a terminal
		}
		lag := kafka.NewLagMonitor(adm, schemas.GroupTopics(cfg.RetryTiers, groups...), interval, log, reg)
		parts = append(parts, lifecycle.Part{Name: "lag", Run: lag.Run})
	}
	return parts, nil
}

// readyTopics are the topics without which role cannot do its work.
func readyTopics(cfg Config, role Role) []string {
	switch role {
	case RoleProcess:
		return schemas.ProcessorTopics(cfg.RetryTiers)
	case RoleSink:
		return []string{schemas.TopicEvents, schemas.TopicEventsDLQ}
	case RoleConsole: // dead letters are read, and replayed onto the source topics
		return append([]string{schemas.TopicDLQ}, schemas.SourceTopics...)
	default: // serve, dev: the ingress writes the source topics
		return schemas.SourceTopics
	}
}

// topicsReady is the readiness check: the broker answers and the topics
// exist.
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
