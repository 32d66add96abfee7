package catalog

import "github.com/prometheus/client_golang/prometheus"

type catalogMetrics struct {
	syncs     *prometheus.CounterVec
	coalesced prometheus.Histogram
	duration  prometheus.Histogram
	pending   prometheus.Gauge
}

func newCatalogMetrics(reg prometheus.Registerer) *catalogMetrics {
	m := &catalogMetrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopstream_catalog_syncs_total",
			Help: "Catalog regenerations by result: uploaded, unchanged (same hash, not uploaded), failed.",
		}, []string{"result"}),
		coalesced: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "shopstream_catalog_sync_events_coalesced",
			Help:    "Product events covered by one catalog regeneration.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "shopstream_catalog_sync_duration_seconds",
			Help:    "Time to regenerate and publish the catalog.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12),
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shopstream_catalog_pending_marks",
			Help: "Catalog marks taken by this member and not yet covered by a successful sync (an outage shows here).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.syncs, m.coalesced, m.duration, m.pending)
	}
	for _, r := range []string{"uploaded", "unchanged", "failed"} {
		m.syncs.WithLabelValues(r)
	}
	return m
}
