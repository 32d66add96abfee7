package pipeline

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestDebounceWindow(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s, ms := time.Second, time.Millisecond
	tests := []struct {
		name      string
		marks     []time.Duration // offsets from t0
		reset     bool            // Reset after marks, then mark again
		again     []time.Duration
		wantDue   time.Duration // meaningful when wantMarks > 0
		wantMarks int
	}{
		{name: "clean"},
		{name: "single mark", marks: []time.Duration{0}, wantDue: 2 * s, wantMarks: 1},
		{name: "burst inside quiet keeps extending", marks: []time.Duration{0, 500 * ms, 1900 * ms, 3 * s}, wantDue: 5 * s, wantMarks: 4},
		{name: "out-of-order mark does not pull due back", marks: []time.Duration{0, 3 * s, s}, wantDue: 5 * s, wantMarks: 3},
		{name: "continuous stream capped by max wait", marks: debounceOffsets(100*ms, 45*s), wantDue: 30 * s, wantMarks: 450},
		{name: "quiet deadline exactly at cap", marks: []time.Duration{0, 28 * s}, wantDue: 30 * s, wantMarks: 2},
		{name: "reset", marks: []time.Duration{0, s}, reset: true},
		{name: "reset forgets the first mark", marks: []time.Duration{0}, reset: true, again: []time.Duration{40 * s}, wantDue: 42 * s, wantMarks: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewDebounceWindow(2*s, 30*s)
			for _, m := range tc.marks {
				w.Mark(t0.Add(m))
			}
			if tc.reset {
				w.Reset()
			}
			for _, m := range tc.again {
				w.Mark(t0.Add(m))
			}
			due, dirty := w.Due()
			if want := tc.wantMarks > 0; dirty != want || w.Dirty() != want {
				t.Fatalf("dirty = %v/%v, want %v", dirty, w.Dirty(), want)
			}
			if dirty && !due.Equal(t0.Add(tc.wantDue)) {
				t.Errorf("due = +%s, want +%s", due.Sub(t0), tc.wantDue)
			}
			if w.Marks() != tc.wantMarks {
				t.Errorf("marks = %d, want %d", w.Marks(), tc.wantMarks)
			}
		})
	}
}

func TestDebounceWindowDefaults(t *testing.T) {
	for _, tc := range []struct{ quiet, maxWait, wantQuiet, wantMax time.Duration }{
		{0, 0, DefaultCatalogQuiet, DefaultCatalogMaxWait},
		{time.Minute, time.Second, time.Minute, time.Minute}, // max wait raised to quiet
	} {
		if w := NewDebounceWindow(tc.quiet, tc.maxWait); w.quiet != tc.wantQuiet || w.maxWait != tc.wantMax {
			t.Errorf("NewDebounceWindow(%s, %s) = %s/%s", tc.quiet, tc.maxWait, w.quiet, w.maxWait)
		}
	}
}

// debounceOffsets returns offsets 0, step, 2·step, ... below total.
func debounceOffsets(step, total time.Duration) []time.Duration {
	var out []time.Duration
	for d := time.Duration(0); d < total; d += step {
		out = append(out, d)
	}
	return out
}

// syncRecord is one call of the sync function, as the test saw it.
type syncRecord struct {
	at        time.Duration // since the start of the bubble
	coalesced int
}

// syncRecorder is a sync function that records calls and can fail or block.
type syncRecorder struct {
	start time.Time
	mu    sync.Mutex
	calls []syncRecord
	fails []int // attempts reported to OnError
	// behave, when set, decides the result of call i (0-based).
	behave func(ctx context.Context, i int) error
}

func (r *syncRecorder) sync(ctx context.Context, n int) error {
	r.mu.Lock()
	i := len(r.calls)
	r.calls = append(r.calls, syncRecord{at: time.Since(r.start), coalesced: n})
	behave := r.behave
	r.mu.Unlock()
	if behave != nil {
		return behave(ctx, i)
	}
	return nil
}

func (r *syncRecorder) onError(_ error, attempt int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fails = append(r.fails, attempt)
}

func (r *syncRecorder) snapshot() (calls []syncRecord, fails []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls), slices.Clone(r.fails)
}

// runDebouncer starts d.Run in the bubble and returns a stop function that
// cancels it and waits for it to return.
func runDebouncer(t *testing.T, d *Debouncer) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	}
}

func TestDebouncerBurstSyncsOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &syncRecorder{start: time.Now()}
		d := NewDebouncer(2*time.Second, 30*time.Second, rec.sync)
		stop := runDebouncer(t, d)
		defer stop()

		for range 1000 { // 1,000 marks over ~1s
			d.Mark()
			time.Sleep(time.Millisecond)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()

		calls, _ := rec.snapshot()
		if len(calls) != 1 {
			t.Fatalf("syncs = %v, want exactly one", calls)
		}
		// Last mark at 999ms, so the quiet period ends at 2.999s.
		if want := 2999 * time.Millisecond; calls[0].at != want || calls[0].coalesced != 1000 {
			t.Errorf("sync = %+v, want {at:%s coalesced:1000}", calls[0], want)
		}
	})
}

func TestDebouncerContinuousStreamCappedByMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &syncRecorder{start: time.Now()}
		d := NewDebouncer(2*time.Second, 30*time.Second, rec.sync)
		stop := runDebouncer(t, d)
		defer stop()

		for range 600 { // every 100ms for 60s
			d.Mark()
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Minute)
		synctest.Wait()

		calls, _ := rec.snapshot()
		if len(calls) != 2 {
			t.Fatalf("syncs = %v, want two", calls)
		}
		// A mark and the max-wait timer may fall on the same instant; which
		// runs first is up to the scheduler, hence one tick of slack.
		for i, want := range []time.Duration{30 * time.Second, 60 * time.Second} {
			if got := calls[i].at; got < want || got > want+100*time.Millisecond {
				t.Errorf("sync %d at %s, want ~%s", i, got, want)
			}
		}
		if total := calls[0].coalesced + calls[1].coalesced; total != 600 {
			t.Errorf("coalesced %d+%d marks, want 600 in all", calls[0].coalesced, calls[1].coalesced)
		}
	})
}

func TestDebouncerMarksDuringSyncOpenNextWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &syncRecorder{start: time.Now()}
		rec.behave = func(ctx context.Context, i int) error {
			if i == 0 {
				time.Sleep(5 * time.Second) // a slow upload
			}
			return nil
		}
		d := NewDebouncer(2*time.Second, 30*time.Second, rec.sync)
		stop := runDebouncer(t, d)
		defer stop()

		d.Mark()
		time.Sleep(3 * time.Second) // first sync started at 2s
		d.Mark()
		d.Mark()
		d.Mark()
		time.Sleep(time.Minute)
		synctest.Wait()

		want := []syncRecord{{at: 2 * time.Second, coalesced: 1}, {at: 7 * time.Second, coalesced: 3}}
		if got, _ := rec.snapshot(); !slices.Equal(got, want) {
			t.Fatalf("syncs = %v, want %v", got, want)
		}
	})
}

func TestDebouncerRetriesFailedSyncWithoutLosingMarks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &syncRecorder{start: time.Now()}
		boom := errors.New("knowledge base unavailable")
		rec.behave = func(ctx context.Context, i int) error {
			switch i {
			case 0, 1, 2:
				return Retryable(boom, 0)
			case 3:
				return Retryable(boom, 20*time.Second) // Retry-After beats the 16s backoff
			}
			return nil
		}
		d := NewDebouncer(2*time.Second, 30*time.Second, rec.sync)
		d.OnError = rec.onError
		stop := runDebouncer(t, d)
		defer stop()

		d.Mark()
		d.Mark()                    // window due at 2s
		time.Sleep(3 * time.Second) // first failure at 2s, retry at 4s
		d.Mark()                    // joins the retry, does not delay it
		time.Sleep(5 * time.Minute)
		synctest.Wait()

		// Backoff 2s, 4s, 8s, then Retry-After 20s.
		want := []syncRecord{
			{at: 2 * time.Second, coalesced: 2},
			{at: 4 * time.Second, coalesced: 3},
			{at: 8 * time.Second, coalesced: 3},
			{at: 16 * time.Second, coalesced: 3},
			{at: 36 * time.Second, coalesced: 3},
		}
		calls, fails := rec.snapshot()
		if !slices.Equal(calls, want) {
			t.Fatalf("syncs = %v, want %v", calls, want)
		}
		if want := []int{1, 2, 3, 4}; !slices.Equal(fails, want) {
			t.Errorf("OnError attempts = %v, want %v", fails, want)
		}
	})
}

func TestDebouncerBackoff(t *testing.T) {
	d := NewDebouncer(2*time.Second, 30*time.Second, func(context.Context, int) error { return nil })
	plain := errors.New("timeout")
	tests := []struct {
		attempt int
		err     error
		want    time.Duration
	}{ // doubling from quiet, capped at max wait, unless Retry-After is longer
		{1, plain, 2 * time.Second},
		{2, plain, 4 * time.Second},
		{4, plain, 16 * time.Second},
		{5, plain, 30 * time.Second},
		{60, plain, 30 * time.Second},
		{1, Retryable(plain, time.Second), 2 * time.Second},
		{1, Retryable(plain, time.Minute), time.Minute},
		{1, Permanent(plain), 2 * time.Second},
	}
	for _, tc := range tests {
		if got := d.backoff(tc.attempt, tc.err); got != tc.want {
			t.Errorf("backoff(%d, %v) = %s, want %s", tc.attempt, tc.err, got, tc.want)
		}
	}
}

func TestDebouncerShutdown(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := &syncRecorder{start: time.Now()}
			stop := runDebouncer(t, NewDebouncer(time.Second, 0, rec.sync))
			time.Sleep(time.Second)
			stop()
		})
	})
	t.Run("no new sync after cancel", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := &syncRecorder{start: time.Now()}
			d := NewDebouncer(2*time.Second, 0, rec.sync)
			stop := runDebouncer(t, d)
			d.Mark()
			time.Sleep(time.Second)
			stop()
			time.Sleep(time.Minute)
			if calls, _ := rec.snapshot(); len(calls) != 0 {
				t.Fatalf("syncs after cancel: %v", calls)
			}
		})
	})
	t.Run("running sync gets the context", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := &syncRecorder{start: time.Now()}
			started := make(chan struct{})
			rec.behave = func(ctx context.Context, _ int) error {
				close(started)
				<-ctx.Done()
				return ctx.Err()
			}
			d := NewDebouncer(2*time.Second, 0, rec.sync)
			d.OnError = rec.onError
			stop := runDebouncer(t, d)
			d.Mark()
			<-started
			stop() // returns only once the sync has seen the cancel
			if _, fails := rec.snapshot(); len(fails) != 0 {
				t.Errorf("OnError called for a shutdown: %v", fails)
			}
		})
	})
}

func TestDebouncerMarkNeverBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := NewDebouncer(0, 0, func(context.Context, int) error { return nil })
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 1000 {
					d.Mark() // no Run: nobody drains the wake-up channel
				}
			})
		}
		wg.Wait()
		if n := d.win.Marks(); n != 8000 {
			t.Fatalf("marks = %d, want 8000", n)
		}
	})
}
