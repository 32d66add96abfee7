package ingress

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a webhook request, the values of the "outcome" label.
const (
	outcomeAccepted     = "accepted"
	outcomeUnauthorized = "unauthorized"
	outcomeMalformed    = "malformed"
	outcomeInvalid      = "invalid"
	outcomeTooLarge     = "too_large"
	outcomeUnsupported  = "unsupported_media_type"
	outcomeUnavailable  = "unavailable"
	outcomeInternal     = "internal"
)

type metrics struct {
	received *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
	// series caches the children of each (kind, outcome) pair seen, so a
	// request does not hash and look up its labels twice: seriesKey to
	// seriesPair. A pair's series still appear with its first request.
	series sync.Map
}

type seriesKey struct{ kind, outcome string }

type seriesPair struct {
	received prometheus.Counter
	latency  prometheus.Observer
}

// observe counts one request and its duration.
func (m *metrics) observe(kind, outcome string, seconds float64) {
	key := seriesKey{kind, outcome}
	v, ok := m.series.Load(key)
	if !ok {
		v, _ = m.series.LoadOrStore(key, seriesPair{m.received.WithLabelValues(kind, outcome), m.latency.WithLabelValues(kind, outcome)})
	}
	p := v.(seriesPair)
	p.received.Inc()
	p.latency.Observe(seconds)
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopstream_webhooks_received_total",
			Help: "Webhook requests by kind (product, order, customer, test) and outcome.",
		}, []string{"kind", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shopstream_ingress_request_duration_seconds",
			Help:    "Time from request start to response, by kind and outcome; accepted includes the broker acknowledgement.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"kind", "outcome"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shopstream_ingress_in_flight_requests",
			Help: "Webhook requests being handled right now.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.received, m.latency, m.inFlight)
	}
	// Pre-create the common series so dashboards show zeros, not gaps.
	for _, k := range []string{"product", "order", "customer"} {
		for _, o := range []string{outcomeAccepted, outcomeUnauthorized, outcomeUnavailable} {
			m.received.WithLabelValues(k, o)
		}
	}
	return m
}
