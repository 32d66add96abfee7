package lifecycle

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// blockUntilDone is a Run that returns when its context ends.
func blockUntilDone(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestRunClosesInReverseOrderAfterEveryRunReturned(t *testing.T) {
	var mu sync.Mutex
	var events []string
	record := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, s)
	}
	part := func(name string) Part {
		return Part{
			Name: name,
			Run: func(ctx context.Context) error {
				<-ctx.Done()
				record("run " + name + " returned")
				return ctx.Err()
			},
			Close: func(context.Context) error { record("close " + name); return nil },
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, nil, part("a"), part("b"), Part{Name: "close-only", Close: func(context.Context) error { record("close close-only"); return nil }})
	}()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("a cancelled context is a clean stop, got %v", err)
	}
	runs := events[:2]
	slices.Sort(runs)
	if !slices.Equal(runs, []string{"run a returned", "run b returned"}) {
		t.Fatalf("runs first: %q", events)
	}
	if want := []string{"close close-only", "close b", "close a"}; !slices.Equal(events[2:], want) {
		t.Fatalf("closes = %q, want %q", events[2:], want)
	}
}

func TestAFailingPartStopsTheOthers(t *testing.T) {
	boom := errors.New("boom")
	stopped := make(chan struct{})
	closed := false
	err := Run(t.Context(), nil,
		Part{Name: "healthy", Run: func(ctx context.Context) error {
			defer close(stopped)
			return blockUntilDone(ctx)
		}, Close: func(context.Context) error { closed = true; return nil }},
		Part{Name: "broken", Run: func(context.Context) error { return boom }},
	)
	if !errors.Is(err, boom) || err.Error() != "broken: boom" {
		t.Fatalf("err = %v, want broken: boom", err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("Run returned before the healthy part stopped")
	}
	if !closed {
		t.Fatal("the healthy part was not closed")
	}
}

func TestDrainIsBounded(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var deadline time.Time
	var secondSawDeadline bool
	closeErr := errors.New("close failed")
	err := Supervisor{Drain: 50 * time.Millisecond}.Run(ctx,
		Part{Name: "first", Close: func(ctx context.Context) error {
			// Runs last: the stuck close before it used the shared deadline.
			_, secondSawDeadline = ctx.Deadline()
			return ctx.Err()
		}},
		Part{Name: "stuck", Close: func(ctx context.Context) error {
			deadline, _ = ctx.Deadline()
			<-ctx.Done() // a close that never finishes on its own
			return closeErr
		}},
	)
	if deadline.IsZero() || !secondSawDeadline {
		t.Fatal("Close got no deadline")
	}
	if !errors.Is(err, closeErr) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v: want both close failures joined", err)
	}
}

func TestNilRunAndCloseAreSkipped(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Run(ctx, nil, Part{Name: "nothing"}); err != nil {
		t.Fatal(err)
	}
}

func TestCloseRunsOnlyTheCloseFunctions(t *testing.T) {
	var order []string
	ran := false
	boom := errors.New("boom")
	err := Close(t.Context(), nil,
		Part{Name: "a", Run: func(context.Context) error { ran = true; return nil }, Close: func(context.Context) error { order = append(order, "a"); return nil }},
		Part{Name: "b", Close: func(context.Context) error { order = append(order, "b"); return boom }},
	)
	if ran {
		t.Fatal("Close ran a part")
	}
	if !slices.Equal(order, []string{"b", "a"}) || !errors.Is(err, boom) {
		t.Fatalf("order %q, err %v", order, err)
	}
}
