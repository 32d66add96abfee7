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
	if err := (RetryPolicy{}).Validate(); err != nil {
		t.Errorf("zero policy: %v", err)
	}
	if err := (RetryPolicy{Tiers: []time.Duration{4 * time.Second, time.Second}}).Validate(); err == nil {
		t.Error("decreasing tiers validated")
	}
}

func TestRetryPolicyDecide(t *testing.T) {
	s := time.Second
	boom := errors.New("inbox: 503")
	custom := RetryPolicy{Tiers: []time.Duration{2 * s, 10 * s, time.Minute}}

	tests := []struct {
		name    string
		policy  RetryPolicy
		err     error
		attempt int
		want    RetryDecision // Reason is not compared
	}{
		{name: "first failure goes to tier 1", err: boom, attempt: 1, want: RetryDecision{Tier: 0, Delay: 2 * s}},
		{name: "second failure goes to tier 2", err: boom, attempt: 2, want: RetryDecision{Tier: 1, Delay: 4 * s}},
		{name: "third failure goes to tier 3", err: boom, attempt: 3, want: RetryDecision{Tier: 2, Delay: 8 * s}},
		{name: "tiers exhausted", err: boom, attempt: 4, want: RetryDecision{DeadLetter: true}},
		{name: "far past the tiers", err: boom, attempt: 40, want: RetryDecision{DeadLetter: true}},
		{name: "attempt 0 counts as 1", err: boom, attempt: 0, want: RetryDecision{Tier: 0, Delay: 2 * s}},
		{name: "wrapped transient", err: fmt.Errorf("send: %w", Retryable(boom, 0)), attempt: 1, want: RetryDecision{Tier: 0, Delay: 2 * s}},
		{name: "permanent at once", err: Permanent(boom), attempt: 1, want: RetryDecision{DeadLetter: true}},
		{name: "wrapped permanent", err: fmt.Errorf("send: %w", Permanentf("bad email")), attempt: 2, want: RetryDecision{DeadLetter: true}},
		{name: "retry-after within tier", err: Retryable(boom, s), attempt: 1, want: RetryDecision{Tier: 0, Delay: 2 * s}},
		{name: "retry-after equal to tier", err: Retryable(boom, 2*s), attempt: 1, want: RetryDecision{Tier: 0, Delay: 2 * s}},
		{name: "retry-after picks covering tier", err: Retryable(boom, 3*s), attempt: 1, want: RetryDecision{Tier: 1, Delay: 4 * s}},
		{name: "retry-after picks exact tier", err: Retryable(boom, 8*s), attempt: 1, want: RetryDecision{Tier: 2, Delay: 8 * s}},
		{name: "retry-after past last tier", err: Retryable(boom, 30*s), attempt: 1, want: RetryDecision{Tier: 2, Delay: 30 * s}},
		{name: "retry-after on last tier", err: Retryable(boom, 9*s), attempt: 3, want: RetryDecision{Tier: 2, Delay: 9 * s}},
		{name: "retry-after does not revive exhausted", err: Retryable(boom, 9*s), attempt: 4, want: RetryDecision{DeadLetter: true}},
		{name: "retry-after never moves down", err: Retryable(boom, s), attempt: 2, want: RetryDecision{Tier: 1, Delay: 4 * s}},
		{name: "custom tiers", policy: custom, err: Retryable(boom, 11*s), attempt: 1, want: RetryDecision{Tier: 2, Delay: time.Minute}},
		{name: "custom tiers exhausted", policy: custom, err: boom, attempt: 4, want: RetryDecision{DeadLetter: true}},
		{name: "single tier", policy: RetryPolicy{Tiers: []time.Duration{5 * s}}, err: boom, attempt: 2, want: RetryDecision{DeadLetter: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.policy.Decide(tc.err, tc.attempt)
			if got.Reason == "" {
				t.Error("empty Reason")
			}
			got.Reason = ""
			if got != tc.want {
				t.Errorf("Decide(%v, %d) = %+v, want %+v", tc.err, tc.attempt, got, tc.want)
			}
		})
	}
}
