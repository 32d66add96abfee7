package alertdigest

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopstream/shopstream/pipeline"
)

// Metrics are the store alerts' counters: raised (published) per trigger,
// channel attempts per channel and result, deferrals per channel. One set
// per process: the digest owner and the processor's tier deliveries count
// into the same series.
type Metrics struct {
	raised     *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	deferred   *prometheus.CounterVec
}

// Delivery results.
const (
	ResultDelivered = "delivered" // the channel accepted it
	ResultFailed    = "failed"    // transient failure: it goes to a retry tier
	ResultRefused   = "refused"   // permanent failure: it goes to the DLQ
)

// NewMetrics registers the alert metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		raised: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shopstream_alerts_raised_total",
			Help: "Store alerts published to the alerts topic, by trigger (a redelivered product event may publish the same alert again)."}, []string{"trigger"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shopstream_alert_deliveries_total",
			Help: "Alert message (single or digest) delivery attempts by channel and result: delivered, failed (transient, retried through the tiers), refused (permanent, dead-lettered)."}, []string{"channel", "result"}),
		deferred: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shopstream_alerts_deferred_total",
			Help: "Alert deliveries held until the quiet hours end, by channel."}, []string{"channel"}),
	}
	for _, ch := range []pipeline.AlertChannel{pipeline.ChannelInbox, pipeline.ChannelWebhook} {
		for _, r := range []string{ResultDelivered, ResultFailed, ResultRefused} {
			m.deliveries.WithLabelValues(string(ch), r)
		}
		m.deferred.WithLabelValues(string(ch))
	}
	for _, t := range []pipeline.AlertTrigger{pipeline.AlertOutOfStock, pipeline.AlertLowStock, pipeline.AlertBackInStock,
		pipeline.AlertPriceChange, pipeline.AlertDeadLetter, pipeline.AlertHeldTooLong} {
		m.raised.WithLabelValues(string(t))
	}
	if reg != nil {
		reg.MustRegister(m.raised, m.deliveries, m.deferred)
	}
	return m
}

// Counted wraps a deliverer so every attempt is counted by channel and
// result.
func (m *Metrics) Counted(inner pipeline.AlertDeliverer) pipeline.AlertDeliverer {
	return countedDeliverer{inner: inner, m: m}
}

type countedDeliverer struct {
	inner pipeline.AlertDeliverer
	m     *Metrics
}

func (c countedDeliverer) Deliver(ctx context.Context, d pipeline.AlertDelivery) error {
	err := c.inner.Deliver(ctx, d)
	result := ResultDelivered
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return err // stopped, not failed
	case pipeline.IsPermanent(err):
		result = ResultRefused
	default:
		result = ResultFailed
	}
	c.m.deliveries.WithLabelValues(string(d.Channel), result).Inc()
	return err
}
