package evershop

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestLimiterSpacesRequests(t *testing.T) {
	tests := []struct {
		name      string
		perMinute int
		burst     int
		want      []time.Duration
	}{
		{"120/min burst 1", 120, 1, []time.Duration{0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond}},
		{"120/min burst 3", 120, 3, []time.Duration{0, 0, 0, 500 * time.Millisecond, time.Second}},
		{"60/min", 60, 1, []time.Duration{0, time.Second, 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLimiter(tt.perMinute, tt.burst)
				start := time.Now()
				for i, want := range tt.want {
					if err := l.wait(t.Context()); err != nil {
						t.Fatal(err)
					}
					if got := time.Since(start); got != want {
						t.Errorf("request %d at %s, want %s", i, got, want)
					}
				}
			})
		})
	}
}

// No sliding minute may see more than the limit, however many goroutines ask.
func TestLimiterUnderConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(120, 1)
		start := time.Now()
		var mu sync.Mutex
		var times []time.Duration
		var wg sync.WaitGroup
		for range 300 {
			wg.Go(func() {
				if err := l.wait(t.Context()); err != nil {
					t.Error(err)
				}
				mu.Lock()
				times = append(times, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		for _, from := range times {
			n := 0
			for _, at := range times {
				if at >= from && at < from+time.Minute {
					n++
				}
			}
			if n > 120 {
				t.Fatalf("%d requests in the minute from %s", n, from)
			}
		}
	})
}

func TestLimiterCancelAndHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(60, 1)
		_ = l.wait(t.Context()) // t=0, next slot at 1s
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if err := l.wait(ctx); err == nil {
			t.Fatal("wait should fail when its context ends first")
		}
		start := time.Now()
		_ = l.wait(t.Context()) // the cancelled slot was given back: due at 1s
		if got := time.Since(start); got != 900*time.Millisecond {
			t.Errorf("waited %s after a cancelled reservation, want 900ms", got)
		}
		l.holdUntil(time.Now().Add(10 * time.Second))
		start = time.Now()
		_ = l.wait(t.Context())
		if got := time.Since(start); got != 10*time.Second {
			t.Errorf("waited %s after holdUntil, want 10s", got)
		}
	})
}
