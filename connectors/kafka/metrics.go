package kafka

import (
	"sync"
	"time"

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
	if o.Status == pipeline.StatusReceived {
		return // an arrival, not an attempt
	}
	m.processed.WithLabelValues(o.EventType, string(o.Status)).Inc()
	m.duration.WithLabelValues(o.EventType).Observe(o.ProcessingMs / 1000)
	if o.Status == pipeline.StatusDead {
		m.dead.WithLabelValues(o.EventType).Inc()
	}
}

// RetryMetrics exposes how events wait for a downstream: the events held
// through an outage and the oldest one's age (alert well before
// SHOPSTREAM_RETRY_MAX_AGE, and so before any topic's retention), the age
// of events forwarded to a retry tier, and dead letters by cause. It is a
// pipeline.RetryObserver.
type RetryMetrics struct {
	now      func() time.Time
	held     prometheus.Gauge
	retryAge prometheus.Histogram
	dead     *prometheus.CounterVec

	mu     sync.Mutex
	oldest time.Time
}

// NewRetryMetrics registers the retry metrics; maxAge is the configured
// SHOPSTREAM_RETRY_MAX_AGE, exported so alert rules can fire at a fraction
// of it; now nil means time.Now.
func NewRetryMetrics(reg prometheus.Registerer, maxAge time.Duration, now func() time.Time) *RetryMetrics {
	if now == nil {
		now = time.Now
	}
	m := &RetryMetrics{now: now,
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shopstream_held_events",
			Help: "Events held by the processor now because a downstream's breaker is open.",
		}),
		retryAge: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "shopstream_retry_event_age_seconds",
			Help:    "Age (since receipt) of events forwarded to a retry tier.",
			Buckets: []float64{1, 10, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 18 * 3600, 24 * 3600, 48 * 3600},
		}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopstream_dead_letters_total",
			Help: "Events dead-lettered, by cause: permanent (retrying cannot help) or max_age (transient failures past SHOPSTREAM_RETRY_MAX_AGE).",
		}, []string{"cause"}),
	}
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shopstream_held_oldest_age_seconds",
		Help: "Age (since receipt) of the oldest event held now; 0 when none.",
	}, m.oldestAge)
	maxAgeGauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "shopstream_retry_max_age_seconds",
		Help: "SHOPSTREAM_RETRY_MAX_AGE: an event failing transiently is dead-lettered (a hold ends) at this age.",
	})
	maxAgeGauge.Set(maxAge.Seconds())
	for _, c := range []pipeline.DeadLetterCause{pipeline.DeadLetterPermanent, pipeline.DeadLetterMaxAge} {
		m.dead.WithLabelValues(string(c))
	}
	if reg != nil {
		reg.MustRegister(m.held, oldest, maxAgeGauge, m.retryAge, m.dead)
	}
	return m
}

// Held implements pipeline.RetryObserver.
func (m *RetryMetrics) Held(count int, oldest time.Time) {
	m.mu.Lock()
	m.oldest = oldest
	m.mu.Unlock()
	m.held.Set(float64(count))
}

// Retried implements pipeline.RetryObserver.
func (m *RetryMetrics) Retried(_ int, age time.Duration) { m.retryAge.Observe(age.Seconds()) }

// DeadLettered implements pipeline.RetryObserver.
func (m *RetryMetrics) DeadLettered(cause pipeline.DeadLetterCause, _ time.Duration) {
	m.dead.WithLabelValues(string(cause)).Inc()
}

func (m *RetryMetrics) oldestAge() float64 {
	m.mu.Lock()
	oldest := m.oldest
	m.mu.Unlock()
	if oldest.IsZero() {
		return 0
	}
	return max(m.now().Sub(oldest).Seconds(), 0)
}
