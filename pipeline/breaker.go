package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Breaker defaults.
const (
	DefaultBreakerFailureThreshold = 5
	DefaultBreakerMinBackoff       = time.Second
	DefaultBreakerMaxBackoff       = 30 * time.Second
)

// BreakerState is where a Breaker stands.
type BreakerState int

const (
	// BreakerClosed: the downstream works; every call goes through.
	BreakerClosed BreakerState = iota
	// BreakerOpen: the downstream is out; no call goes through until the
	// backoff elapses.
	BreakerOpen
	// BreakerHalfOpen: one probe call is out to learn whether the outage
	// is over; the others wait for its answer.
	BreakerHalfOpen
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("BreakerState(%d)", int(s))
}

// BreakerConfig tunes a Breaker. Zero fields take the defaults.
type BreakerConfig struct {
	// FailureThreshold is how many consecutive transient failures open the
	// breaker (default 5). Lower trips on blips; higher lets more events
	// into the retry tiers before the outage is recognised.
	FailureThreshold int
	// MinBackoff is the first wait after opening (default 1s); each failed
	// probe doubles it up to MaxBackoff (default 30s).
	MinBackoff, MaxBackoff time.Duration
	// RetryAfterMax clamps a downstream's Retry-After (default
	// DefaultRetryAfterMax): an absurd value must not hold every event for
	// an hour.
	RetryAfterMax time.Duration
}

// Validate reports a configuration NewBreaker would have to correct.
func (c BreakerConfig) Validate() error {
	switch {
	case c.FailureThreshold < 0:
		return fmt.Errorf("breaker failure threshold %d is negative", c.FailureThreshold)
	case c.MinBackoff < 0 || c.MaxBackoff < 0:
		return fmt.Errorf("breaker backoff %s..%s is negative", c.MinBackoff, c.MaxBackoff)
	case c.RetryAfterMax < 0:
		return fmt.Errorf("breaker retry-after max %s is negative", c.RetryAfterMax)
	}
	if c = c.withDefaults(); c.MaxBackoff < c.MinBackoff {
		return fmt.Errorf("breaker max backoff %s is shorter than min backoff %s", c.MaxBackoff, c.MinBackoff)
	}
	return nil
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.FailureThreshold <= 0 {
		c.FailureThreshold = DefaultBreakerFailureThreshold
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultBreakerMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultBreakerMaxBackoff
	}
	if c.RetryAfterMax <= 0 {
		c.RetryAfterMax = DefaultRetryAfterMax
	}
	return c
}

// Breaker detects that a downstream (the support inbox, the knowledge base)
// is failing for everything, so that an outage ends with events delivered
// late rather than dead-lettered.
//
// Retry tiers are sized for one event's bad luck: 2s+4s+8s. An inbox that is
// down for a minute would push every order event through all the tiers into
// the DLQ. The breaker tells the two apart: after FailureThreshold
// consecutive transient failures it opens, and while it is not closed the
// processor does not spend the failing event's retry budget. One Breaker per
// downstream, shared by every partition that calls it:
//
//	if ok, wait := br.Allow(now); !ok {
//		// Hold: pause the partition, keep the record, and try the same
//		// record again after wait. Its attempt count does not change.
//	}
//	err := action(ctx, ev)
//	if err == nil {
//		br.Success(now)
//	} else {
//		br.Failure(now, err)
//		if !IsPermanent(err) && br.State() != BreakerClosed {
//			// The downstream is out, not this event: hold as above.
//		} else {
//			// policy.Decide(FailedAttempt{...}): retry tier or DLQ.
//		}
//	}
//
// The few events that failed before the breaker opened are in the retry
// tiers; the tier consumers consult the same breaker and hold them too, so
// nothing reaches the DLQ because of the outage. When open, the breaker lets
// one probe through after the backoff (half-open); its success closes the
// breaker and every held partition resumes, its failure doubles the backoff up
// to MaxBackoff. A Retry-After is honoured, even beyond MaxBackoff: it is the
// downstream's explicit word; but it is clamped to RetryAfterMax, the same
// clamp the retry policy applies.
//
// Only transient failures count. A permanent error means the downstream
// answered and rejected this event, which is proof that it is up, so it counts
// as a success. context.Canceled is the processor's own shutdown and counts as
// nothing. All methods take now, so the state machine is a pure function of
// the calls; they are safe for concurrent use.
type Breaker struct {
	cfg BreakerConfig

	mu         sync.Mutex
	state      BreakerState
	failures   int           // consecutive transient failures while closed
	backoff    time.Duration // current backoff; doubles per failed probe
	openUntil  time.Time     // open: when the next probe may go
	probeSince time.Time     // half-open: when the probe went out
	outages    int
}

// NewBreaker returns a closed Breaker. Zero or negative fields of cfg take the
// defaults and a MaxBackoff below MinBackoff is raised to it; call
// cfg.Validate first to report such mistakes instead.
func NewBreaker(cfg BreakerConfig) *Breaker {
	cfg = cfg.withDefaults()
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	return &Breaker{cfg: cfg}
}

// Allow reports whether a call to the downstream may go now. When it may not,
// wait is how long to hold before asking again.
//
// Once the backoff has elapsed, the first caller gets the probe and the others
// keep waiting until the probe reports. A probe that never reports (its caller
// lost the partition, or crashed) is replaced after MaxBackoff, so the breaker
// cannot stay half-open for ever.
func (b *Breaker) Allow(now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerOpen:
		if now.Before(b.openUntil) {
			return false, b.openUntil.Sub(now)
		}
		b.state, b.probeSince = BreakerHalfOpen, now
		return true, 0
	case BreakerHalfOpen:
		lease := b.probeSince.Add(b.cfg.MaxBackoff)
		if !now.Before(lease) {
			b.probeSince = now
			return true, 0
		}
		// The probe's answer is what we wait for; look again soon.
		return false, min(b.cfg.MinBackoff, lease.Sub(now))
	}
	return true, 0
}

// Success records a call that worked. From any state it closes the breaker:
// even a call let through before the breaker opened shows the downstream
// answering now.
func (b *Breaker) Success(_ time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closeLocked()
}

// Failure records a call that failed with err. Transient errors (anything not
// IsPermanent) count towards opening, or re-open a half-open breaker with a
// doubled backoff; a permanent error counts as a success; context.Canceled
// is ignored.
func (b *Breaker) Failure(now time.Time, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if IsPermanent(err) {
		b.closeLocked()
		return
	}
	switch b.state {
	case BreakerClosed:
		b.failures++
		if b.failures >= b.cfg.FailureThreshold {
			b.outages++
			b.openLocked(now, b.cfg.MinBackoff, err)
		}
	case BreakerHalfOpen:
		b.openLocked(now, min(2*b.backoff, b.cfg.MaxBackoff), err)
	case BreakerOpen:
		// A call let through before the breaker opened, failing late. It
		// says nothing new, except perhaps a longer Retry-After.
		if after, ok := b.retryAfter(err); ok && now.Add(after).After(b.openUntil) {
			b.openUntil = now.Add(after)
		}
	}
}

func (b *Breaker) openLocked(now time.Time, backoff time.Duration, err error) {
	b.state, b.backoff = BreakerOpen, backoff
	wait := backoff
	if after, ok := b.retryAfter(err); ok && after > wait {
		wait = after
	}
	b.openUntil = now.Add(wait)
}

// retryAfter is err's Retry-After, clamped to RetryAfterMax.
func (b *Breaker) retryAfter(err error) (time.Duration, bool) {
	after, ok := RetryAfter(err)
	return min(after, b.cfg.RetryAfterMax), ok
}

func (b *Breaker) closeLocked() {
	b.state, b.failures, b.backoff = BreakerClosed, 0, 0
	b.openUntil, b.probeSince = time.Time{}, time.Time{}
}

// State returns the breaker's state, for the hold decision and a gauge.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// Outages returns how many times the breaker has opened from closed; a failed
// probe re-opening it is the same outage.
func (b *Breaker) Outages() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.outages
}
