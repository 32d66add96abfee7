package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxRetryTiers bounds SHOPSTREAM_RETRY_TIERS. Each tier is a topic and a
// consumer; more than a handful means the retries are doing the job of the
// breaker (see breaker.go), which holds records through an outage instead.
const MaxRetryTiers = 10

// DefaultRetryTiers returns the default tier delays, 2s, 4s and 8s: three
// retries within ~15s, enough to ride out a blip without letting a failing
// event hold its place for long.
func DefaultRetryTiers() []time.Duration {
	return []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second}
}

// Defaults of the retry policy's age limits.
const (
	// DefaultRetryMaxAge is how long transient failures are retried,
	// measured from the event's receipt: a day outlasts any outage someone
	// is paged for, and stays well inside the 2x retention that
	// `shopstream topics` gives the source and retry topics.
	DefaultRetryMaxAge = 24 * time.Hour
	// DefaultRetryAfterMax clamps a downstream's Retry-After: a tier record
	// parked for an hour would block every record behind it.
	DefaultRetryAfterMax = 5 * time.Minute
)

// RetryPolicy decides where a failed event goes next: a retry tier topic or
// the dead-letter topic. The zero value uses DefaultRetryTiers,
// DefaultRetryMaxAge and DefaultRetryAfterMax.
type RetryPolicy struct {
	// Tiers are the tier delays, strictly increasing.
	Tiers []time.Duration
	// MaxAge is how long after an event's receipt transient failures keep
	// it retrying; only then is it dead-lettered. At least the sum of
	// Tiers, so every tier is used once.
	MaxAge time.Duration
	// RetryAfterMax clamps a Retry-After before it picks the tier and the
	// delay, and bounds how long a breaker trusts one (BreakerConfig).
	RetryAfterMax time.Duration
}

// DeadLetterCause says why an event was dead-lettered, as a metric label.
type DeadLetterCause string

const (
	// DeadLetterPermanent: the failure cannot be fixed by retrying (a
	// rejected contract, invalid data, a record that is not a webhook).
	DeadLetterPermanent DeadLetterCause = "permanent"
	// DeadLetterMaxAge: transient failures went on past RetryPolicy.MaxAge.
	DeadLetterMaxAge DeadLetterCause = "max_age"
)

// FailedAttempt is one failed attempt, as RetryPolicy.Decide needs it.
type FailedAttempt struct {
	Err error
	// Attempt is 1 for the first processing (from the source topic), 2 for
	// the one from tier 1, and so on; values below 1 count as 1.
	Attempt int
	// Since is when the work's retry budget started: the event's
	// received-at (Delivery.RetrySince), or for the catalog sync the
	// received-at of the oldest event it covers. Zero means unknown (see
	// Decide).
	Since time.Time
	// Now is when the attempt failed.
	Now time.Time
}

// RetryDecision is the fate of one failed attempt.
type RetryDecision struct {
	// DeadLetter sends the record to evershop.dlq; Tier and Delay are unset
	// and Cause says why.
	DeadLetter bool
	Cause      DeadLetterCause
	// Tier is the 0-based index into RetryPolicy.Tiers of the tier topic
	// the record goes to.
	Tier int
	// Delay is how long after the failure the next attempt may start (the
	// shopstream-due-at header): the tier's delay, or the clamped
	// Retry-After when that is longer.
	Delay time.Duration
	// Reason says why, for logs and the DLQ's shopstream-error context.
	Reason string
}

// ParseRetryTiers parses SHOPSTREAM_RETRY_TIERS, e.g. "2s,4s,8s". Delays are
// Go durations, positive, whole milliseconds (each names a topic such as
// evershop.retry.500ms, so finer values would collide), strictly increasing
// (a later retry that waits less is a configuration mistake), at least one and
// at most MaxRetryTiers.
func ParseRetryTiers(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("retry tiers: empty, want at least one delay such as \"2s,4s,8s\"")
	}
	parts := strings.Split(s, ",")
	tiers := make([]time.Duration, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("retry tiers %q: tier %d is empty", s, i+1)
		}
		d, err := time.ParseDuration(p)
		if err != nil {
			return nil, fmt.Errorf("retry tiers %q: tier %d: %w", s, i+1, err)
		}
		tiers = append(tiers, d)
	}
	if err := validateRetryTiers(tiers); err != nil {
		return nil, fmt.Errorf("retry tiers %q: %w", s, err)
	}
	return tiers, nil
}

// Validate checks the policy: Tiers as ParseRetryTiers does (empty means
// the defaults), MaxAge and RetryAfterMax not negative (zero means the
// default), MaxAge at least the sum of the tiers (else an event could be
// dead-lettered before it used them all) and RetryAfterMax at most MaxAge.
func (p RetryPolicy) Validate() error {
	if len(p.Tiers) > 0 {
		if err := validateRetryTiers(p.Tiers); err != nil {
			return fmt.Errorf("retry tiers: %w", err)
		}
	}
	switch {
	case p.MaxAge < 0:
		return fmt.Errorf("retry max age %s must be positive", p.MaxAge)
	case p.RetryAfterMax < 0:
		return fmt.Errorf("retry-after max %s must be positive", p.RetryAfterMax)
	}
	var total time.Duration
	for _, d := range p.tiers() {
		total += d
	}
	if maxAge := p.maxAge(); maxAge < total {
		return fmt.Errorf("retry max age %s is shorter than the retry tiers' total %s: an event would be dead-lettered before using every tier", maxAge, total)
	}
	if p.retryAfterMax() > p.maxAge() {
		return fmt.Errorf("retry-after max %s is longer than the retry max age %s", p.retryAfterMax(), p.maxAge())
	}
	return nil
}

func validateRetryTiers(tiers []time.Duration) error {
	if len(tiers) == 0 {
		return errors.New("want at least one delay")
	}
	if len(tiers) > MaxRetryTiers {
		return fmt.Errorf("%d tiers, at most %d allowed", len(tiers), MaxRetryTiers)
	}
	for i, d := range tiers {
		switch {
		case d <= 0:
			return fmt.Errorf("tier %d (%s) must be positive", i+1, d)
		case d%time.Millisecond != 0:
			return fmt.Errorf("tier %d (%s) must be a whole number of milliseconds", i+1, d)
		case i > 0 && d <= tiers[i-1]:
			return fmt.Errorf("tier %d (%s) must be longer than tier %d (%s)", i+1, d, i, tiers[i-1])
		}
	}
	return nil
}

func (p RetryPolicy) tiers() []time.Duration {
	if len(p.Tiers) == 0 {
		return DefaultRetryTiers()
	}
	return p.Tiers
}

func (p RetryPolicy) maxAge() time.Duration {
	if p.MaxAge <= 0 {
		return DefaultRetryMaxAge
	}
	return p.MaxAge
}

func (p RetryPolicy) retryAfterMax() time.Duration {
	if p.RetryAfterMax <= 0 {
		return DefaultRetryAfterMax
	}
	return p.RetryAfterMax
}

// EffectiveMaxAge is MaxAge, or its default when zero.
func (p RetryPolicy) EffectiveMaxAge() time.Duration { return p.maxAge() }

// EffectiveRetryAfterMax is RetryAfterMax, or its default when zero.
func (p RetryPolicy) EffectiveRetryAfterMax() time.Duration { return p.retryAfterMax() }

// MaxHold is the longest a retry tier's head record may hold its partition
// waiting for its due time: the Retry-After clamp, or the longest tier
// delay when that is longer.
func (p RetryPolicy) MaxHold() time.Duration {
	h := p.retryAfterMax()
	for _, d := range p.Tiers {
		h = max(h, d)
	}
	return h
}

// Expired reports whether work whose retry budget started at since is past
// MaxAge at now; a zero since is never expired.
func (p RetryPolicy) Expired(since, now time.Time) bool {
	return !since.IsZero() && now.Sub(since) >= p.maxAge()
}

// Decide returns the fate of a failed attempt.
//
//   - A permanent error (IsPermanent) is dead-lettered at once, Cause
//     DeadLetterPermanent: retrying cannot fix invalid data or a rejected
//     contract.
//   - Any other error is transient, including unclassified ones (a timeout
//     from the network stack is rarely wrapped). Once the work is MaxAge old
//     (Now - Since >= MaxAge) it is dead-lettered, Cause DeadLetterMaxAge.
//     Before that it goes to tier Attempt-1 while one remains, and after the
//     last tier it keeps cycling on the last tier: an outage longer than the
//     tiers ends with the event delivered late, not dead-lettered. While
//     cycling, the delay doubles per attempt from the last tier's, up to
//     RetryAfterMax (never below the last tier's delay): a failure that
//     lasts hours costs a few hundred attempts a day, not ten thousand, and
//     a cycling record at the head of the tier partition holds the records
//     behind it for no longer than the clamp.
//   - A Retry-After is first clamped to RetryAfterMax. When it is longer
//     than the chosen tier's delay, the record moves to the first later
//     tier whose delay covers it, or the last tier, and Delay becomes the
//     clamped Retry-After if that is longer still, so the next attempt does
//     not call the downstream before it asked. Moving up does not use up
//     tiers: the next tier is still chosen from the attempt count.
//   - A zero Since means the age is unknown. Rather than retry for ever,
//     the policy then falls back to counting: after the last tier the
//     event is dead-lettered, Cause DeadLetterMaxAge, and the reason says
//     the receipt time was unknown.
//
// The catalog sync uses the same rule for its failures: Attempt is the
// number of failed syncs of the covered marks, Since the received-at of the
// oldest covered event; it ignores Tier and waits Delay before the next
// sync.
//
// Decide does not know about outages: while a downstream's Breaker is open
// the processor holds the record instead of asking (breaker.go). An error
// caused by the processor's own shutdown (context.Canceled) should not reach
// Decide either: the record is simply not marked and is delivered again.
func (p RetryPolicy) Decide(f FailedAttempt) RetryDecision {
	tiers := p.tiers()
	attempt := max(f.Attempt, 1)
	if IsPermanent(f.Err) {
		return RetryDecision{DeadLetter: true, Cause: DeadLetterPermanent,
			Reason: fmt.Sprintf("permanent error on attempt %d", attempt)}
	}
	tier := attempt - 1
	switch {
	case f.Since.IsZero() && tier >= len(tiers):
		return RetryDecision{DeadLetter: true, Cause: DeadLetterMaxAge,
			Reason: fmt.Sprintf("retries exhausted: %d attempts, %d tiers, receipt time unknown", attempt, len(tiers))}
	case p.Expired(f.Since, f.Now):
		return RetryDecision{DeadLetter: true, Cause: DeadLetterMaxAge,
			Reason: fmt.Sprintf("transient failures for %s since receipt, max age %s (attempt %d)",
				f.Now.Sub(f.Since).Round(time.Second), p.maxAge(), attempt)}
	}
	delay, cycling := time.Duration(0), ""
	if tier >= len(tiers) {
		tier = len(tiers) - 1
		delay = p.cycleDelay(tiers[tier], attempt-len(tiers))
		cycling = fmt.Sprintf(", cycling every %s until max age %s", delay, p.maxAge())
	}
	after, hasAfter := RetryAfter(f.Err)
	after = min(after, p.retryAfterMax())
	if !hasAfter || after <= tiers[tier] {
		return RetryDecision{
			Tier:   tier,
			Delay:  max(tiers[tier], delay),
			Reason: fmt.Sprintf("transient error, tier %d of %d (%s)%s", tier+1, len(tiers), tiers[tier], cycling),
		}
	}
	for tier < len(tiers)-1 && tiers[tier] < after {
		tier++
	}
	return RetryDecision{
		Tier:  tier,
		Delay: max(tiers[tier], after, delay),
		Reason: fmt.Sprintf("transient error with Retry-After %s, tier %d of %d (%s)%s",
			after, tier+1, len(tiers), tiers[tier], cycling),
	}
}

// cycleDelay is the delay of the n-th cycle (n >= 1) on the last tier:
// last doubled n times, at most RetryAfterMax, at least last.
func (p RetryPolicy) cycleDelay(last time.Duration, n int) time.Duration {
	limit := p.retryAfterMax()
	d := last
	for range n {
		if d >= limit {
			break
		}
		d *= 2
	}
	return max(min(d, limit), last)
}
