package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// breakerStep is one call on a Breaker at a fake time, and what it should see.
type breakerStep struct {
	at  time.Duration // since t0
	op  string        // "allow", "ok", "fail"
	err error         // for "fail"

	wantOK   bool          // for "allow"
	wantWait time.Duration // for "allow"
	want     BreakerState  // after the step
}

func TestBreaker(t *testing.T) {
	s := time.Second
	down := Retryable(errors.New("inbox: 503"), 0)
	bad := Permanent(errors.New("inbox: 400 unknown conversation"))
	allow := func(at time.Duration, ok bool, wait time.Duration, st BreakerState) breakerStep {
		return breakerStep{at: at, op: "allow", wantOK: ok, wantWait: wait, want: st}
	}
	fail := func(at time.Duration, err error, st BreakerState) breakerStep {
		return breakerStep{at: at, op: "fail", err: err, want: st}
	}
	ok := func(at time.Duration, st BreakerState) breakerStep {
		return breakerStep{at: at, op: "ok", want: st}
	}
	cfg := BreakerConfig{FailureThreshold: 3, MinBackoff: s, MaxBackoff: 5 * s}

	tests := []struct {
		name        string
		steps       []breakerStep
		wantOutages int
	}{
		{
			name:  "closed lets everything through",
			steps: []breakerStep{allow(0, true, 0, BreakerClosed), fail(0, down, BreakerClosed), allow(0, true, 0, BreakerClosed)},
		},
		{
			name: "success resets the count",
			steps: []breakerStep{
				fail(0, down, BreakerClosed), fail(0, down, BreakerClosed), ok(0, BreakerClosed),
				fail(0, down, BreakerClosed), fail(0, down, BreakerClosed), allow(0, true, 0, BreakerClosed),
			},
		},
		{
			name: "permanent errors are the event's fault",
			steps: []breakerStep{
				fail(0, down, BreakerClosed), fail(0, down, BreakerClosed), fail(0, bad, BreakerClosed),
				fail(0, down, BreakerClosed), fail(0, fmt.Errorf("send: %w", bad), BreakerClosed),
			},
		},
		{
			name: "shutdown is not a failure",
			steps: []breakerStep{
				fail(0, down, BreakerClosed), fail(0, down, BreakerClosed),
				fail(0, fmt.Errorf("post: %w", context.Canceled), BreakerClosed), fail(0, down, BreakerOpen),
			},
			wantOutages: 1,
		},
		{
			name: "opens after threshold, one probe, probe success closes",
			steps: []breakerStep{
				fail(0, down, BreakerClosed), fail(0, down, BreakerClosed), fail(0, down, BreakerOpen),
				allow(300*time.Millisecond, false, 700*time.Millisecond, BreakerOpen),
				allow(s, true, 0, BreakerHalfOpen),                             // the probe
				allow(s, false, s, BreakerHalfOpen),                            // others wait
				allow(1500*time.Millisecond, false, s, BreakerHalfOpen),        // still waiting
				ok(2*s, BreakerClosed),                                         // probe worked
				allow(2*s, true, 0, BreakerClosed),                             // everyone resumes
				fail(2*s, down, BreakerClosed), fail(2*s, down, BreakerClosed), // count starts afresh
			},
			wantOutages: 1,
		},
		{
			name: "failed probes double the backoff up to max",
			steps: []breakerStep{
				fail(0, down, BreakerClosed), fail(0, down, BreakerClosed), fail(0, down, BreakerOpen),
				allow(s, true, 0, BreakerHalfOpen), fail(s, down, BreakerOpen), // backoff 2s
				allow(2*s, false, 1*s, BreakerOpen),
				allow(3*s, true, 0, BreakerHalfOpen), fail(3*s, down, BreakerOpen), // 4s
				allow(7*s, true, 0, BreakerHalfOpen), fail(7*s, down, BreakerOpen), // 5s, capped
				allow(11*s, false, s, BreakerOpen),
				allow(12*s, true, 0, BreakerHalfOpen), fail(12*s, down, BreakerOpen), // still 5s
				allow(17*s, true, 0, BreakerHalfOpen), ok(17*s, BreakerClosed),
				// A new outage starts from MinBackoff again.
				fail(20*s, down, BreakerClosed), fail(20*s, down, BreakerClosed), fail(20*s, down, BreakerOpen),
				allow(20*s, false, s, BreakerOpen),
			},
			wantOutages: 2,
		},
		{
			name: "retry-after stretches the wait",
			steps: []breakerStep{
				fail(0, down, BreakerClosed), fail(0, down, BreakerClosed),
				fail(0, Retryable(errors.New("429"), 10*s), BreakerOpen),
				allow(s, false, 9*s, BreakerOpen),
				allow(10*s, true, 0, BreakerHalfOpen),
				fail(10*s, Retryable(errors.New("429"), time.Minute), BreakerOpen), // beyond MaxBackoff: honoured
				allow(69*s, false, s, BreakerOpen),
				allow(70*s, true, 0, BreakerHalfOpen),
			},
			wantOutages: 1,
		},
		{
			name: "retry-after is clamped to RetryAfterMax",
			steps: []breakerStep{
				fail(0, down, BreakerClosed), fail(0, down, BreakerClosed),
				fail(0, Retryable(errors.New("429"), time.Hour), BreakerOpen),
				allow(0, false, 5*time.Minute, BreakerOpen),
				fail(0, Retryable(errors.New("429"), 2*time.Hour), BreakerOpen), // late, still clamped
				allow(time.Minute, false, 4*time.Minute, BreakerOpen),
				allow(5*time.Minute, true, 0, BreakerHalfOpen),
			},
			wantOutages: 1,
		},
		{
			name: "late failure while open only honours a longer retry-after",
			steps: []breakerStep{
				fail(0, down, BreakerClosed), fail(0, down, BreakerClosed), fail(0, down, BreakerOpen),
				fail(0, down, BreakerOpen), allow(0, false, s, BreakerOpen),
				fail(0, Retryable(errors.New("503"), 4*s), BreakerOpen), allow(0, false, 4*s, BreakerOpen),
			},
			wantOutages: 1,
		},
		{
			name: "permanent answer to the probe closes",
			steps: []breakerStep{
				fail(0, down, BreakerClosed), fail(0, down, BreakerClosed), fail(0, down, BreakerOpen),
				allow(s, true, 0, BreakerHalfOpen), fail(s, bad, BreakerClosed),
			},
			wantOutages: 1,
		},
		{
			name: "late success while open closes",
			steps: []breakerStep{
				fail(0, down, BreakerClosed), fail(0, down, BreakerClosed), fail(0, down, BreakerOpen),
				ok(100*time.Millisecond, BreakerClosed), allow(100*time.Millisecond, true, 0, BreakerClosed),
			},
			wantOutages: 1,
		},
		{
			name: "lost probe is replaced after max backoff",
			steps: []breakerStep{
				fail(0, down, BreakerClosed), fail(0, down, BreakerClosed), fail(0, down, BreakerOpen),
				allow(s, true, 0, BreakerHalfOpen), // never reports
				allow(5500*time.Millisecond, false, 500*time.Millisecond, BreakerHalfOpen),
				allow(6*s, true, 0, BreakerHalfOpen), // a new probe
				fail(6*s, down, BreakerOpen),
			},
			wantOutages: 1,
		},
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBreaker(cfg)
			for i, st := range tc.steps {
				now := t0.Add(st.at)
				switch st.op {
				case "allow":
					gotOK, gotWait := b.Allow(now)
					if gotOK != st.wantOK || gotWait != st.wantWait {
						t.Fatalf("step %d: Allow(+%s) = %v, %s; want %v, %s", i, st.at, gotOK, gotWait, st.wantOK, st.wantWait)
					}
				case "ok":
					b.Success(now)
				case "fail":
					b.Failure(now, st.err)
				}
				if got := b.State(); got != st.want {
					t.Fatalf("step %d (%s at +%s): state %s, want %s", i, st.op, st.at, got, st.want)
				}
			}
			if got := b.Outages(); got != tc.wantOutages {
				t.Errorf("outages = %d, want %d", got, tc.wantOutages)
			}
		})
	}
}

func TestBreakerConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     BreakerConfig
		wantErr bool
	}{
		{name: "zero takes defaults", cfg: BreakerConfig{}},
		{name: "explicit", cfg: BreakerConfig{FailureThreshold: 1, MinBackoff: time.Second, MaxBackoff: time.Second}},
		{name: "negative threshold", cfg: BreakerConfig{FailureThreshold: -1}, wantErr: true},
		{name: "negative backoff", cfg: BreakerConfig{MinBackoff: -time.Second}, wantErr: true},
		{name: "max below min", cfg: BreakerConfig{MinBackoff: time.Minute, MaxBackoff: time.Second}, wantErr: true},
		{name: "min above default max", cfg: BreakerConfig{MinBackoff: time.Minute}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err != nil) != tc.wantErr {
				t.Errorf("Validate() = %v, want error %v", err, tc.wantErr)
			}
		})
	}

	b := NewBreaker(BreakerConfig{})
	if b.cfg != (BreakerConfig{FailureThreshold: 5, MinBackoff: time.Second, MaxBackoff: 30 * time.Second, RetryAfterMax: 5 * time.Minute}) {
		t.Errorf("defaults = %+v", b.cfg)
	}
	if b := NewBreaker(BreakerConfig{MinBackoff: time.Minute, MaxBackoff: time.Second}); b.cfg.MaxBackoff != time.Minute {
		t.Errorf("max backoff %s not raised to min", b.cfg.MaxBackoff)
	}
}

func TestBreakerStateString(t *testing.T) {
	for st, want := range map[BreakerState]string{
		BreakerClosed: "closed", BreakerOpen: "open", BreakerHalfOpen: "half-open", BreakerState(7): "BreakerState(7)",
	} {
		if got := st.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(st), got, want)
		}
	}
}

// TestBreakerOneProbeUnderContention checks that however many partitions ask
// at once when the backoff elapses, exactly one gets the probe.
func TestBreakerOneProbeUnderContention(t *testing.T) {
	b := NewBreaker(BreakerConfig{FailureThreshold: 1})
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b.Failure(t0, errors.New("timeout"))
	now := t0.Add(time.Second)

	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		probes int
	)
	for range 64 {
		wg.Go(func() {
			if ok, _ := b.Allow(now); ok {
				mu.Lock()
				probes++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if probes != 1 {
		t.Fatalf("%d probes, want 1", probes)
	}
}
