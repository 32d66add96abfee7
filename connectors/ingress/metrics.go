package ingress

import "github.com/prometheus/client_golang/prometheus"

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
