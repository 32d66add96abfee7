package pipeline

import (
	"sync"
	"time"
)

// RetryObserver is told how events wait for a downstream, so that a
// connector can expose it as metrics (held events, the oldest one's age,
// dead letters by cause) and an alert can fire long before an event nears
// the retry max age or a topic's retention. Calls are synchronous on the
// processing path: they must be cheap and must not block.
type RetryObserver interface {
	// Held reports the events the processor holds now because a
	// downstream's breaker is open: how many, and the retry start
	// (Delivery.Since) of the oldest, zero when none. It is called on every
	// change.
	Held(count int, oldest time.Time)
	// Retried reports a delivery forwarded to a retry tier (0-based) and
	// how old the event is (now - Delivery.Since).
	Retried(tier int, age time.Duration)
	// DeadLettered reports a delivery sent to the DLQ, by cause, and how
	// old the event is.
	DeadLettered(cause DeadLetterCause, age time.Duration)
}

type nopRetryObserver struct{}

func (nopRetryObserver) Held(int, time.Time)                         {}
func (nopRetryObserver) Retried(int, time.Duration)                  {}
func (nopRetryObserver) DeadLettered(DeadLetterCause, time.Duration) {}

// holdSet tracks the deliveries held through an outage, by event id, with
// the time their retry budget started. Few entries (at most one per
// partition worker), so the oldest is found by a scan.
type holdSet struct {
	obs RetryObserver

	mu   sync.Mutex
	held map[string]time.Time
	nest map[string]int // holds per id: one event may be delivered twice at once
}

func newHoldSet(obs RetryObserver) *holdSet {
	return &holdSet{obs: obs, held: map[string]time.Time{}, nest: map[string]int{}}
}

func (h *holdSet) hold(id string, since time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nest[id]++
	h.held[id] = since
	h.reportLocked()
}

func (h *holdSet) release(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nest[id]--; h.nest[id] <= 0 {
		delete(h.nest, id)
		delete(h.held, id)
	}
	h.reportLocked()
}

// state returns how many events are held and the oldest one's retry start.
func (h *holdSet) state() (int, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stateLocked()
}

func (h *holdSet) stateLocked() (int, time.Time) {
	var oldest time.Time
	for _, since := range h.held {
		if oldest.IsZero() || since.Before(oldest) {
			oldest = since
		}
	}
	return len(h.held), oldest
}

func (h *holdSet) reportLocked() {
	n, oldest := h.stateLocked()
	h.obs.Held(n, oldest)
}
