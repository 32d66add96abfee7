package kafka

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopstream/shopstream/pipeline"
)

// ProcessorMetrics counts outcomes as the processor records them.
type ProcessorMetrics struct {
	processed *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	dead      *prometheus.CounterVec
}

// NewProcessorMetrics registers the processor's outcome metrics.
func NewProcessorMetrics(reg prometheus.Registerer) *ProcessorMetrics {
	m := &ProcessorMetrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopstream_events_processed_total",
			Help: "Event attempts by event type and outcome (completed, retrying, dead, duplicate, superseded, skipped).",
		}, []string{"event_type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shopstream_event_processing_seconds",
			Help:    "Time one attempt took, by event type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"event_type"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopstream_dlq_records_total",
			Help: "Events written to the dead-letter topic, by event type.",
		}, []string{"event_type"}),
	}
	if reg != nil {
		reg.MustRegister(m.processed, m.duration, m.dead)
	}
	for _, types := range pipeline.EventTypes {
		for _, t := range types {
			m.dead.WithLabelValues(t)
			m.processed.WithLabelValues(t, string(pipeline.StatusCompleted))
		}
	}
	return m
}

// Record counts one outcome (a pipeline.OutcomeRecorder).
func (m *ProcessorMetrics) Record(o pipeline.Outcome) {
	m.processed.WithLabelValues(o.EventType, string(o.Status)).Inc()
	m.duration.WithLabelValues(o.EventType).Observe(o.ProcessingMs / 1000)
	if o.Status == pipeline.StatusDead {
		m.dead.WithLabelValues(o.EventType).Inc()
	}
}
