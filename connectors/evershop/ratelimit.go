package evershop

import (
	"context"
	"sync"
	"time"

	"github.com/shopstream/shopstream/internal/clock"
)

// limiter is a token bucket in its GCRA form: instead of a token count it
// keeps the theoretical arrival time (tat) of the next request, which makes
// it one timestamp and no goroutine. EverShop counts every /api/** request
// against the same 120/min, so login, refresh and GraphQL calls all pass here.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration // time to earn one token
	burst    int
	tat      time.Time

	// Injected so client tests can run on a fake clock; the limiter's own
	// tests use the real ones under testing/synctest.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

func newLimiter(perMinute, burst int) *limiter {
	return &limiter{interval: time.Minute / time.Duration(perMinute), burst: burst, now: time.Now, sleep: clock.Sleep}
}

// wait blocks until the caller may send one request, or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := l.now()
	if l.tat.Before(now) {
		l.tat = now
	}
	allowAt := l.tat.Add(-time.Duration(l.burst-1) * l.interval)
	l.tat = l.tat.Add(l.interval)
	mine := l.tat
	l.mu.Unlock()

	d := allowAt.Sub(now)
	if d <= 0 {
		return nil
	}
	if err := l.sleep(ctx, d); err != nil {
		l.mu.Lock()
		if l.tat.Equal(mine) { // nobody queued behind us: give the slot back
			l.tat = l.tat.Add(-l.interval)
		}
		l.mu.Unlock()
		return err
	}
	return nil
}

// holdUntil stops everyone until t, after the server said "too many
// requests": the bucket was too optimistic (another client shares the
// address), and every queued request would only collect another 429.
func (l *limiter) holdUntil(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if floor := t.Add(time.Duration(l.burst-1) * l.interval); l.tat.Before(floor) {
		l.tat = floor
	}
}
