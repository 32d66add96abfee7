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

// RetryPolicy decides where a failed event goes next: a retry tier topic or
// the dead-letter topic. Tiers are the tier delays, strictly increasing; the
// zero value uses DefaultRetryTiers.
type RetryPolicy struct {
	Tiers []time.Duration
}

// RetryDecision is the fate of one failed attempt.
type RetryDecision struct {
	// DeadLetter sends the record to evershop.dlq; Tier and Delay are unset.
	DeadLetter bool
	// Tier is the 0-based index into RetryPolicy.Tiers of the tier topic
	// the record goes to.
	Tier int
	// Delay is how long after the failure the tier consumer may process the
	// record (the shopstream-due-at header). It is the tier's delay, or the
	// error's Retry-After when that is longer.
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

// Validate checks Tiers as ParseRetryTiers does; empty Tiers are valid and
// mean the defaults.
func (p RetryPolicy) Validate() error {
	if len(p.Tiers) == 0 {
		return nil
	}
	if err := validateRetryTiers(p.Tiers); err != nil {
		return fmt.Errorf("retry tiers: %w", err)
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

// Decide returns the fate of an event whose attempt-th processing failed with
// err. attempt is 1 for the first processing (from the source topic), 2 for
// the one from tier 1, and so on; values below 1 count as 1.
//
//   - A permanent error (IsPermanent) is dead-lettered at once: retrying
//     cannot fix invalid data or a rejected contract.
//   - Any other error is transient, including unclassified ones (a timeout
//     from the network stack is rarely wrapped): it goes to tier attempt-1
//     while one remains, else to the dead-letter topic.
//   - A Retry-After longer than that tier's delay moves the record to the
//     first later tier whose delay covers it, or the last tier, and Delay
//     becomes the Retry-After if that is longer still, so the tier consumer
//     does not call the downstream before it asked. Moving up does not use up
//     retries: the next tier is still chosen from the attempt count, so an
//     event gets len(Tiers) retries whatever the downstream says.
//
// Decide does not know about outages: while a downstream's Breaker is open the
// processor holds the record instead of asking (breaker.go). An error caused
// by the processor's own shutdown (context.Canceled) should not reach Decide
// either: the record is simply not marked and is delivered again.
func (p RetryPolicy) Decide(err error, attempt int) RetryDecision {
	tiers := p.tiers()
	attempt = max(attempt, 1)
	if IsPermanent(err) {
		return RetryDecision{DeadLetter: true, Reason: fmt.Sprintf("permanent error on attempt %d", attempt)}
	}
	tier := attempt - 1
	if tier >= len(tiers) {
		return RetryDecision{
			DeadLetter: true,
			Reason:     fmt.Sprintf("retries exhausted: %d attempts, %d tiers", attempt, len(tiers)),
		}
	}
	after, hasAfter := RetryAfter(err)
	if !hasAfter || after <= tiers[tier] {
		return RetryDecision{
			Tier:   tier,
			Delay:  tiers[tier],
			Reason: fmt.Sprintf("transient error, tier %d of %d (%s)", tier+1, len(tiers), tiers[tier]),
		}
	}
	for tier < len(tiers)-1 && tiers[tier] < after {
		tier++
	}
	return RetryDecision{
		Tier:  tier,
		Delay: max(tiers[tier], after),
		Reason: fmt.Sprintf("transient error with Retry-After %s, tier %d of %d (%s)",
			after, tier+1, len(tiers), tiers[tier]),
	}
}
