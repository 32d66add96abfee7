package pipeline

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestDebounceWindow(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s, ms := time.Second, time.Millisecond
	tests := []struct {
		name      string
		marks     []time.Duration // accepted-at, offsets from t0
		reset     time.Duration   // >0: Reset(t0+reset) after marks, then mark again
		again     []time.Duration
		wantQuiet time.Duration // meaningful when wantMarks > 0
		wantCap   time.Duration
		wantMarks int
	}{
		{name: "clean"},
		{name: "single mark", marks: []time.Duration{0}, wantQuiet: 2 * s, wantCap: 30 * s, wantMarks: 1},
		{name: "burst inside quiet keeps extending", marks: []time.Duration{0, 500 * ms, 1900 * ms, 3 * s}, wantQuiet: 5 * s, wantCap: 30 * s, wantMarks: 4},
		{name: "marks in any order give the same window", marks: []time.Duration{3 * s, 0, s}, wantQuiet: 5 * s, wantCap: 30 * s, wantMarks: 3},
		{name: "continuous stream", marks: debounceOffsets(100*ms, 45*s), wantQuiet: 44*s + 900*ms + 2*s, wantCap: 30 * s, wantMarks: 450},
		{name: "reset", marks: []time.Duration{0, s}, reset: s},
		{name: "reset forgets the first mark", marks: []time.Duration{0}, reset: s, again: []time.Duration{40 * s}, wantQuiet: 42 * s, wantCap: 70 * s, wantMarks: 1},
		{name: "old marks after a reset open the window at the floor", marks: []time.Duration{0}, reset: 10 * s, again: []time.Duration{s, 2 * s}, wantQuiet: 4 * s, wantCap: 40 * s, wantMarks: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewDebounceWindow(2*s, 30*s)
			for _, m := range tc.marks {
				w.Mark(t0.Add(m))
			}
			if tc.reset > 0 {
				w.Reset(t0.Add(tc.reset))
			}
			for _, m := range tc.again {
				w.Mark(t0.Add(m))
			}
			quietAt, capAt, dirty := w.Due()
			if want := tc.wantMarks > 0; dirty != want || w.Dirty() != want {
				t.Fatalf("dirty = %v/%v, want %v", dirty, w.Dirty(), want)
			}
			if dirty && (!quietAt.Equal(t0.Add(tc.wantQuiet)) || !capAt.Equal(t0.Add(tc.wantCap))) {
				t.Errorf("due = +%s/+%s, want +%s/+%s", quietAt.Sub(t0), capAt.Sub(t0), tc.wantQuiet, tc.wantCap)
			}
			if w.Marks() != tc.wantMarks {
				t.Errorf("marks = %d, want %d", w.Marks(), tc.wantMarks)
			}
		})
	}
}

func TestDebounceWindowPhase(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := time.Second
	w := NewDebounceWindow(2*s, 30*s)
	if p, _ := w.Phase(t0); p != WindowIdle {
		t.Fatalf("clean window: %s", p)
	}
	w.Mark(t0)
	w.Mark(t0.Add(s))
	for _, tc := range []struct {
		now       time.Duration
		want      WindowPhase
		wantUntil time.Duration // -1: zero time
	}{
		{0, WindowQuiet, 3 * s},
		{2900 * time.Millisecond, WindowQuiet, 3 * s},
		{3 * s, WindowSettling, 30 * s},
		{29 * s, WindowSettling, 30 * s},
		{30 * s, WindowExpired, -1},
		{time.Hour, WindowExpired, -1},
	} {
		p, until := w.Phase(t0.Add(tc.now))
		wantUntil := time.Time{}
		if tc.wantUntil >= 0 {
			wantUntil = t0.Add(tc.wantUntil)
		}
		if p != tc.want || !until.Equal(wantUntil) {
			t.Errorf("Phase(+%s) = %s until %v, want %s until %v", tc.now, p, until, tc.want, wantUntil)
		}
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

// fakeProgress is an IngestProgress whose caught-up answer the test sets.
type fakeProgress struct {
	behind atomic.Bool
	asked  atomic.Int64
	err    atomic.Pointer[error]
}

func (p *fakeProgress) CaughtUp(context.Context) (bool, error) {
	p.asked.Add(1)
	if e := p.err.Load(); e != nil {
		return false, *e
	}
	return !p.behind.Load(), nil
}

func newTestDebouncer(quiet, maxWait time.Duration, p IngestProgress, rec *syncRecorder) *Debouncer {
	if p == nil {
		p = &fakeProgress{}
	}
	return NewDebouncer(DebouncerConfig{Quiet: quiet, MaxWait: maxWait, OnError: rec.onError}, p, rec.sync)
}

// syncRecord is one call of the sync function, as the test saw it.
type syncRecord struct {
	at        time.Duration // since the start of the bubble
	coalesced int
	forced    bool
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

func (r *syncRecorder) sync(ctx context.Context, req CatalogSyncRequest) error {
	r.mu.Lock()
	i := len(r.calls)
	r.calls = append(r.calls, syncRecord{at: time.Since(r.start), coalesced: req.Marks, forced: req.Forced})
	behave := r.behave
	r.mu.Unlock()
	if behave != nil {
		return behave(ctx, i)
	}
	return nil
}

func (r *syncRecorder) onError(_ error, attempt int) {
	if attempt == 0 {
		return // a probe error
	}
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
		d := newTestDebouncer(2*time.Second, 30*time.Second, nil, rec)
		stop := runDebouncer(t, d)
		defer stop()

		for range 1000 { // 1,000 marks over ~1s
			d.Mark(time.Now())
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
		d := newTestDebouncer(2*time.Second, 30*time.Second, nil, rec)
		stop := runDebouncer(t, d)
		defer stop()

		for range 600 { // every 100ms for 60s
			d.Mark(time.Now())
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
		rec.behave = func(_ context.Context, i int) error {
			if i == 0 {
				time.Sleep(5 * time.Second) // a slow upload
			}
			return nil
		}
		d := newTestDebouncer(2*time.Second, 30*time.Second, nil, rec)
		stop := runDebouncer(t, d)
		defer stop()

		d.Mark(time.Now())
		time.Sleep(3 * time.Second) // first sync started at 2s
		d.Mark(time.Now())
		d.Mark(time.Now())
		d.Mark(time.Now())
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
		rec.behave = func(_ context.Context, i int) error {
			switch i {
			case 0, 1, 2:
				return Retryable(boom, 0)
			case 3:
				return Retryable(boom, 20*time.Second) // Retry-After beats the 16s backoff
			}
			return nil
		}
		d := newTestDebouncer(2*time.Second, 30*time.Second, nil, rec)
		stop := runDebouncer(t, d)
		defer stop()

		d.Mark(time.Now())
		d.Mark(time.Now())          // window due at 2s
		time.Sleep(3 * time.Second) // first failure at 2s, retry at 4s
		d.Mark(time.Now())          // joins the retry, does not delay it
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
	d := NewDebouncer(DebouncerConfig{Quiet: 2 * time.Second, MaxWait: 30 * time.Second}, &fakeProgress{}, func(context.Context, CatalogSyncRequest) error { return nil })
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
			stop := runDebouncer(t, newTestDebouncer(time.Second, 0, nil, rec))
			time.Sleep(time.Second)
			stop()
		})
	})
	t.Run("no new sync after cancel", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := &syncRecorder{start: time.Now()}
			d := newTestDebouncer(2*time.Second, 0, nil, rec)
			stop := runDebouncer(t, d)
			d.Mark(time.Now())
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
			d := newTestDebouncer(2*time.Second, 0, nil, rec)
			stop := runDebouncer(t, d)
			d.Mark(time.Now())
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
		d := NewDebouncer(DebouncerConfig{}, &fakeProgress{}, func(context.Context, CatalogSyncRequest) error { return nil })
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 1000 {
					d.Mark(time.Now()) // no Run: nobody drains the wake-up channel
				}
			})
		}
		wg.Wait()
		if n := d.win.Marks(); n != 8000 {
			t.Fatalf("marks = %d, want 8000", n)
		}
	})
}

// TestDebouncerSlowProcessorsOneSync: a burst accepted within 1 s whose
// marks trickle in over 8 s (processors far behind) is synced once, when
// the processors caught up, not once per quiet gap in the marks' arrival.
func TestDebouncerSlowProcessorsOneSync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &syncRecorder{start: time.Now()}
		prog := &fakeProgress{}
		prog.behind.Store(true)
		d := newTestDebouncer(2*time.Second, 30*time.Second, prog, rec)
		stop := runDebouncer(t, d)
		defer stop()

		accepted := time.Now()
		for i := range 100 { // accepted over 1 s, delivered over 8 s: 3 s gaps
			at := accepted.Add(time.Duration(i) * 10 * time.Millisecond)
			if i%25 == 0 && i > 0 {
				time.Sleep(3 * time.Second)
			}
			d.Mark(at)
		}
		time.Sleep(500 * time.Millisecond)
		prog.behind.Store(false) // the processors committed everything
		time.Sleep(time.Minute)
		synctest.Wait()

		calls, _ := rec.snapshot()
		if len(calls) != 1 || calls[0].coalesced != 100 || calls[0].forced {
			t.Fatalf("syncs = %+v, want exactly one unforced sync of 100 marks", calls)
		}
		// Caught up at 9.5 s; the probe is asked every Recheck (500 ms).
		if got := calls[0].at; got < 9500*time.Millisecond || got > 10*time.Second {
			t.Errorf("sync at %s, want within a recheck of 9.5 s", got)
		}
	})
}

// TestDebouncerNeverWaitsPastMaxWait: processors that never catch up delay
// the sync to the max wait after the first accepted event, not longer.
func TestDebouncerNeverWaitsPastMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &syncRecorder{start: time.Now()}
		prog := &fakeProgress{}
		prog.behind.Store(true)
		d := newTestDebouncer(2*time.Second, 30*time.Second, prog, rec)
		stop := runDebouncer(t, d)
		defer stop()

		d.Mark(time.Now().Add(-5 * time.Second)) // accepted 5 s before it arrived
		time.Sleep(time.Minute)
		synctest.Wait()
		calls, _ := rec.snapshot()
		if len(calls) != 1 || calls[0].at != 25*time.Second || !calls[0].forced {
			t.Fatalf("syncs = %+v, want one forced sync at 25 s", calls)
		}
	})
}

// TestDebouncerBacklogSyncsOncePerMaxWait: after a forced sync, marks of
// events accepted long ago (a backlog) open their window at the sync, so a
// backlog regenerates once per max wait, not in a loop.
func TestDebouncerBacklogSyncsOncePerMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &syncRecorder{start: time.Now()}
		prog := &fakeProgress{}
		prog.behind.Store(true)
		d := newTestDebouncer(2*time.Second, 30*time.Second, prog, rec)
		stop := runDebouncer(t, d)
		defer stop()

		old := time.Now().Add(-time.Hour)
		for range 70 { // one backlog mark a second for 70 s, all an hour old
			d.Mark(old)
			time.Sleep(time.Second)
		}
		synctest.Wait()
		calls, _ := rec.snapshot()
		want := []time.Duration{0, 30 * time.Second, 60 * time.Second}
		if len(calls) != len(want) {
			t.Fatalf("syncs = %+v, want at %v", calls, want)
		}
		for i, w := range want {
			if calls[i].at != w {
				t.Errorf("sync %d at %s, want %s", i, calls[i].at, w)
			}
		}
	})
}

// TestDebouncerProbeErrorIsNotCaughtUp: a failing probe holds the window
// until the max wait, then the sync runs anyway.
func TestDebouncerProbeErrorIsNotCaughtUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &syncRecorder{start: time.Now()}
		prog := &fakeProgress{}
		boom := errors.New("broker unreachable")
		prog.err.Store(&boom)
		d := newTestDebouncer(2*time.Second, 10*time.Second, prog, rec)
		stop := runDebouncer(t, d)
		defer stop()

		d.Mark(time.Now())
		time.Sleep(time.Minute)
		synctest.Wait()
		calls, _ := rec.snapshot()
		if len(calls) != 1 || calls[0].at != 10*time.Second || !calls[0].forced {
			t.Fatalf("syncs = %+v, want one forced at 10 s", calls)
		}
		if n := prog.asked.Load(); n < 10 {
			t.Errorf("progress asked %d times in 8 s of settling, want every 500 ms", n)
		}
	})
}
