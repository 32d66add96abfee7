package kafka

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
)

// LagMonitor measures consumer lag (the queue depth) per group and topic with
// kadm and exports it as shopstream_consumer_lag{group,topic}. Lag is the
// sum over partitions of end offset minus committed offset; a group that has
// not committed yet counts everything from the start.
type LagMonitor struct {
	adm      *kadm.Client
	groups   []string
	interval time.Duration
	log      *slog.Logger
	lag      *prometheus.GaugeVec
}

// NewLagMonitor registers the gauge.
func NewLagMonitor(adm *kadm.Client, groups []string, interval time.Duration, log *slog.Logger, reg prometheus.Registerer) *LagMonitor {
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
	lags, err := m.adm.Lag(ctx, m.groups...)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]int64{}
	for _, g := range lags.Sorted() {
		if g.Error() != nil {
			continue
		}
		out[g.Group] = map[string]int64{}
		for topic, total := range g.Lag.TotalByTopic() {
			out[g.Group][topic] = total.Lag
			m.lag.WithLabelValues(g.Group, topic).Set(float64(total.Lag))
		}
	}
	return out, nil
}
