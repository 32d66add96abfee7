package clock

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := Sleep(t.Context(), time.Minute); err != nil || time.Since(start) != time.Minute {
			t.Fatalf("err = %v after %s, want nil after 1m", err, time.Since(start))
		}
		if err := Sleep(t.Context(), 0); err != nil {
			t.Fatalf("zero wait on a live context: %v", err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start = time.Now()
		if err := Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Second {
			t.Fatalf("err = %v after %s, want the context's end after 1s", err, time.Since(start))
		}
		if err := Sleep(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("zero wait on an ended context: %v", err)
		}
	})
}

func TestPoll(t *testing.T) {
	notYet := errors.New("not yet")
	t.Run("returns once the check passes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start, calls := time.Now(), 0
			err := Poll(t.Context(), 200*time.Millisecond, 10*time.Second, func(context.Context) error {
				if calls++; calls < 4 {
					return notYet
				}
				return nil
			})
			if err != nil || calls != 4 || time.Since(start) != 600*time.Millisecond {
				t.Fatalf("err = %v, %d calls in %s", err, calls, time.Since(start))
			}
		})
	})
	t.Run("gives up with the last error after within", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start, calls := time.Now(), 0
			err := Poll(t.Context(), 300*time.Millisecond, time.Second, func(context.Context) error { calls++; return notYet })
			// At 0, 300, 600 and 900 ms, and once more at the deadline.
			if !errors.Is(err, notYet) || calls != 5 || time.Since(start) != time.Second {
				t.Fatalf("err = %v, %d calls in %s", err, calls, time.Since(start))
			}
		})
	})
	t.Run("stops when the context ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			err := Poll(ctx, 200*time.Millisecond, time.Hour, func(context.Context) error { return notYet })
			if !errors.Is(err, notYet) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want the check's error and the context's", err)
			}
		})
	})
}

func TestBackoff(t *testing.T) {
	b := NewBackoff(100*time.Millisecond, time.Second)
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.Next(); got != w*time.Millisecond {
			t.Fatalf("wait %d = %s, want %s", i, got, w*time.Millisecond)
		}
	}
	b.Reset()
	if got := b.Next(); got != 100*time.Millisecond {
		t.Fatalf("after Reset: %s", got)
	}
	if got := NewBackoff(time.Minute, time.Second).Next(); got != time.Second {
		t.Fatalf("a first wait above the cap: %s", got)
	}
}
