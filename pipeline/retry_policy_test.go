package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRetryTiers(t *testing.T) {
	s := time.Second
	tests := []struct {
		in      string
		want    []time.Duration
		wantErr string // substring; empty means success
	}{
		{in: "2s,4s,8s", want: []time.Duration{2 * s, 4 * s, 8 * s}},
		{in: " 500ms , 1s,1m30s ", want: []time.Duration{500 * time.Millisecond, s, 90 * s}},
		{in: "1h", want: []time.Duration{time.Hour}},
		{in: "1s,2s,3s,4s,5s,6s,7s,8s,9s,10s", want: []time.Duration{s, 2 * s, 3 * s, 4 * s, 5 * s, 6 * s, 7 * s, 8 * s, 9 * s, 10 * s}},
		{in: "", wantErr: "empty"},
		{in: "  ", wantErr: "empty"},
		{in: "2s,,8s", wantErr: "tier 2 is empty"},
		{in: "2s,", wantErr: "tier 2 is empty"},
		{in: "2s,four,8s", wantErr: "tier 2"},
		{in: "2", wantErr: "missing unit"},
		{in: "0s", wantErr: "tier 1 (0s) must be positive"},
		{in: "-1s,2s", wantErr: "must be positive"},
		{in: "2s,2s", wantErr: "tier 2 (2s) must be longer than tier 1 (2s)"},
		{in: "8s,4s", wantErr: "must be longer"},
		{in: "1500us", wantErr: "whole number of milliseconds"},
		{in: "1s,2s,3s,4s,5s,6s,7s,8s,9s,10s,11s", wantErr: "11 tiers, at most 10"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRetryTiers(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseRetryTiers(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ParseRetryTiers(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	s := time.Second
	tests := []struct {
		name    string
		policy  RetryPolicy
		wantErr string // substring; empty means valid
	}{
		{name: "zero policy takes the defaults"},
		{name: "explicit", policy: RetryPolicy{Tiers: []time.Duration{s, 2 * s}, MaxAge: time.Hour, RetryAfterMax: time.Minute}},
		{name: "max age equal to the tiers' total", policy: RetryPolicy{Tiers: []time.Duration{s, 2 * s}, MaxAge: 3 * s, RetryAfterMax: s}},
		{name: "decreasing tiers", policy: RetryPolicy{Tiers: []time.Duration{4 * s, s}}, wantErr: "must be longer"},
		{name: "negative max age", policy: RetryPolicy{MaxAge: -s}, wantErr: "max age -1s must be positive"},
		{name: "negative retry-after max", policy: RetryPolicy{RetryAfterMax: -s}, wantErr: "retry-after max -1s must be positive"},
		{name: "max age shorter than the tiers", policy: RetryPolicy{MaxAge: 10 * s, RetryAfterMax: s}, wantErr: "shorter than the retry tiers' total 14s"},
		{name: "retry-after max beyond max age", policy: RetryPolicy{MaxAge: time.Minute, RetryAfterMax: time.Hour}, wantErr: "longer than the retry max age"},
		{name: "default retry-after max beyond a short max age", policy: RetryPolicy{MaxAge: time.Minute}, wantErr: "retry-after max 5m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestRetryPolicyDecide(t *testing.T) {
	s := time.Second
	boom := errors.New("inbox: 503")
	custom := RetryPolicy{Tiers: []time.Duration{2 * s, 10 * s, time.Minute}}
	now := time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC)
	fresh := now.Add(-time.Minute)

	tests := []struct {
		name    string
		policy  RetryPolicy
		err     error
		attempt int
		since   time.Time     // zero: fresh (received a minute ago)
		unknown bool          // since is really zero
		want    RetryDecision // Reason is not compared
	}{
		{name: "first failure goes to tier 1", err: boom, attempt: 1, want: RetryDecision{Tier: 0, Delay: 2 * s}},
		{name: "second failure goes to tier 2", err: boom, attempt: 2, want: RetryDecision{Tier: 1, Delay: 4 * s}},
		{name: "third failure goes to tier 3", err: boom, attempt: 3, want: RetryDecision{Tier: 2, Delay: 8 * s}},
		{name: "after the tiers it cycles on the last", err: boom, attempt: 4, want: RetryDecision{Tier: 2, Delay: 16 * s}},
		{name: "cycling backs off", err: boom, attempt: 6, want: RetryDecision{Tier: 2, Delay: 64 * s}},
		{name: "cycling backs off up to the clamp", err: boom, attempt: 9, want: RetryDecision{Tier: 2, Delay: 5 * time.Minute}},
		{name: "far past the tiers still cycles", err: boom, attempt: 4000, since: now.Add(-23 * time.Hour), want: RetryDecision{Tier: 2, Delay: 5 * time.Minute}},
		{name: "a clamp below the last tier keeps the tier's delay", policy: RetryPolicy{RetryAfterMax: s}, err: boom, attempt: 9, want: RetryDecision{Tier: 2, Delay: 8 * s}},
		{name: "max age reached", err: boom, attempt: 4000, since: now.Add(-24 * time.Hour), want: RetryDecision{DeadLetter: true, Cause: DeadLetterMaxAge}},
		{name: "max age reached on the first attempt", err: boom, attempt: 1, since: now.Add(-25 * time.Hour), want: RetryDecision{DeadLetter: true, Cause: DeadLetterMaxAge}},
		{name: "custom max age", policy: RetryPolicy{MaxAge: time.Hour}, err: boom, attempt: 9, since: now.Add(-time.Hour), want: RetryDecision{DeadLetter: true, Cause: DeadLetterMaxAge}},
		{name: "unknown receipt uses the tiers", err: boom, attempt: 3, unknown: true, want: RetryDecision{Tier: 2, Delay: 8 * s}},
		{name: "unknown receipt dead-letters after the tiers", err: boom, attempt: 4, unknown: true, want: RetryDecision{DeadLetter: true, Cause: DeadLetterMaxAge}},
		{name: "attempt 0 counts as 1", err: boom, attempt: 0, want: RetryDecision{Tier: 0, Delay: 2 * s}},
		{name: "wrapped transient", err: fmt.Errorf("send: %w", Retryable(boom, 0)), attempt: 1, want: RetryDecision{Tier: 0, Delay: 2 * s}},
		{name: "permanent at once", err: Permanent(boom), attempt: 1, want: RetryDecision{DeadLetter: true, Cause: DeadLetterPermanent}},
		{name: "wrapped permanent", err: fmt.Errorf("send: %w", Permanentf("bad email")), attempt: 2, want: RetryDecision{DeadLetter: true, Cause: DeadLetterPermanent}},
		{name: "permanent wins over max age", err: Permanent(boom), attempt: 1, since: now.Add(-48 * time.Hour), want: RetryDecision{DeadLetter: true, Cause: DeadLetterPermanent}},
		{name: "retry-after within tier", err: Retryable(boom, s), attempt: 1, want: RetryDecision{Tier: 0, Delay: 2 * s}},
		{name: "retry-after equal to tier", err: Retryable(boom, 2*s), attempt: 1, want: RetryDecision{Tier: 0, Delay: 2 * s}},
		{name: "retry-after picks covering tier", err: Retryable(boom, 3*s), attempt: 1, want: RetryDecision{Tier: 1, Delay: 4 * s}},
		{name: "retry-after picks exact tier", err: Retryable(boom, 8*s), attempt: 1, want: RetryDecision{Tier: 2, Delay: 8 * s}},
		{name: "retry-after past last tier", err: Retryable(boom, 30*s), attempt: 1, want: RetryDecision{Tier: 2, Delay: 30 * s}},
		{name: "retry-after on last tier", err: Retryable(boom, 9*s), attempt: 3, want: RetryDecision{Tier: 2, Delay: 9 * s}},
		{name: "retry-after while cycling", err: Retryable(boom, 9*s), attempt: 4, want: RetryDecision{Tier: 2, Delay: 16 * s}},
		{name: "longer retry-after while cycling", err: Retryable(boom, 30*s), attempt: 4, want: RetryDecision{Tier: 2, Delay: 30 * s}},
		{name: "retry-after is clamped", err: Retryable(boom, time.Hour), attempt: 1, want: RetryDecision{Tier: 2, Delay: 5 * time.Minute}},
		{name: "retry-after clamped to a custom max", policy: RetryPolicy{RetryAfterMax: 3 * s}, err: Retryable(boom, time.Hour), attempt: 1, want: RetryDecision{Tier: 1, Delay: 4 * s}},
		{name: "retry-after never moves down", err: Retryable(boom, s), attempt: 2, want: RetryDecision{Tier: 1, Delay: 4 * s}},
		{name: "retry-after does not outlive max age", err: Retryable(boom, 9*s), attempt: 4, since: now.Add(-24 * time.Hour), want: RetryDecision{DeadLetter: true, Cause: DeadLetterMaxAge}},
		{name: "custom tiers", policy: custom, err: Retryable(boom, 11*s), attempt: 1, want: RetryDecision{Tier: 2, Delay: time.Minute}},
		{name: "custom tiers cycle", policy: custom, err: boom, attempt: 4, want: RetryDecision{Tier: 2, Delay: 2 * time.Minute}},
		{name: "single tier cycles", policy: RetryPolicy{Tiers: []time.Duration{5 * s}}, err: boom, attempt: 2, want: RetryDecision{Tier: 0, Delay: 10 * s}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			since := tc.since
			switch {
			case tc.unknown:
				since = time.Time{}
			case since.IsZero():
				since = fresh
			}
			got := tc.policy.Decide(FailedAttempt{Err: tc.err, Attempt: tc.attempt, Since: since, Now: now})
			if got.Reason == "" {
				t.Error("empty Reason")
			}
			if got.Cause == DeadLetterMaxAge && !strings.Contains(got.Reason, "max age") && !strings.Contains(got.Reason, "unknown") {
				t.Errorf("max-age reason %q does not say so", got.Reason)
			}
			got.Reason = ""
			if got != tc.want {
				t.Errorf("Decide(%v, %d) = %+v, want %+v", tc.err, tc.attempt, got, tc.want)
			}
		})
	}
}

func TestRetryPolicyMaxHold(t *testing.T) {
	cases := []struct {
		name string
		p    RetryPolicy
		want time.Duration
	}{
		{"the clamp when tiers are shorter", RetryPolicy{Tiers: []time.Duration{time.Second, 4 * time.Second}, RetryAfterMax: time.Minute}, time.Minute},
		{"the longest tier when longer", RetryPolicy{Tiers: []time.Duration{time.Second, time.Hour}, RetryAfterMax: time.Minute}, time.Hour},
		{"the default clamp when unset", RetryPolicy{Tiers: []time.Duration{time.Second}}, DefaultRetryAfterMax},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.p.MaxHold(); got != c.want {
				t.Fatalf("MaxHold = %s, want %s", got, c.want)
			}
		})
	}
}
