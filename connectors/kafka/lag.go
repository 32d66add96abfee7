package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// LagMonitor measures consumer lag (the queue depth) per group and topic with
// kadm and exports it as shopstream_consumer_lag{group,topic}. Lag is the
// sum over partitions of the end offset minus the committed offset; for a
// partition the group has never committed (a processor that never started,
// or crashed before its first commit) it is everything from the log start,
// so a queue is never invisible.
type LagMonitor struct {
	adm      *kadm.Client
	groups   map[string][]string // group -> the topics it consumes
	interval time.Duration
	log      *slog.Logger
	lag      *prometheus.GaugeVec
}

// NewLagMonitor registers the gauge. groups maps each consumer group to the
// topics it consumes.
func NewLagMonitor(adm *kadm.Client, groups map[string][]string, interval time.Duration, log *slog.Logger, reg prometheus.Registerer) *LagMonitor {
	m := &LagMonitor{adm: adm, groups: groups, interval: interval, log: log,
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shopstream_consumer_lag",
			Help: "Records not yet committed by a consumer group, per topic (queue depth).",
		}, []string{"group", "topic"}),
	}
	if reg != nil {
		reg.MustRegister(m.lag)
	}
	return m
}

// Run measures every interval until ctx ends.
func (m *LagMonitor) Run(ctx context.Context) error {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		if _, err := m.Measure(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("consumer lag not measured", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Measure updates the gauge once and returns the lag per group and topic.
func (m *LagMonitor) Measure(ctx context.Context) (map[string]map[string]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out := map[string]map[string]int64{}
	for group, topics := range m.groups {
		starts, err := m.adm.ListStartOffsets(ctx, topics...)
		if err != nil {
			return nil, fmt.Errorf("start offsets: %w", err)
		}
		ends, err := m.adm.ListEndOffsets(ctx, topics...)
		if err != nil {
			return nil, fmt.Errorf("end offsets: %w", err)
		}
		committed, err := m.adm.FetchOffsets(ctx, group)
		if errors.Is(err, kerr.GroupIDNotFound) {
			// A group that has never committed (its processors not started
			// yet): every record from the log start is lag, not an error.
			committed, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("offsets of %s: %w", group, err)
		}
		lags := map[string]int64{}
		for _, topic := range topics {
			lags[topic] = 0
		}
		ends.Each(func(end kadm.ListedOffset) {
			if end.Err != nil {
				return
			}
			from := int64(0)
			if start, ok := starts.Lookup(end.Topic, end.Partition); ok && start.Err == nil {
				from = start.Offset
			}
			if c, ok := committed.Lookup(end.Topic, end.Partition); ok && c.Err == nil && c.At >= from {
				from = c.At
			}
			if end.Offset > from {
				lags[end.Topic] += end.Offset - from
			}
		})
		out[group] = lags
		for topic, lag := range lags {
			m.lag.WithLabelValues(group, topic).Set(float64(lag))
		}
	}
	return out, nil
}
