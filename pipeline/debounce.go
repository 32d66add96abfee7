package pipeline

import (
	"context"
	"sync"
	"time"
)

// Catalog sync window defaults (SHOPSTREAM_CATALOG_QUIET, SHOPSTREAM_CATALOG_MAX_WAIT).
const (
	DefaultCatalogQuiet   = 2 * time.Second
	DefaultCatalogMaxWait = 30 * time.Second
)

// DebounceWindow is the arithmetic of the catalog sync window, with no clock
// and no goroutines: every answer is a function of the times passed to Mark.
//
// A regeneration rebuilds the whole catalog, so a burst of product events
// (an import, a price change across a category) must cost one upload, not
// one per event: the window waits for a quiet period after the last mark.
// A store that never goes quiet would then never sync, so the window is also
// due at most maxWait after its first mark.
//
// The zero value is not usable; use NewDebounceWindow. A DebounceWindow is not
// safe for concurrent use; Debouncer guards its own.
type DebounceWindow struct {
	quiet, maxWait time.Duration
	first, last    time.Time
	marks          int
}

// NewDebounceWindow returns an empty window. A non-positive quiet or maxWait
// takes its default; maxWait is raised to quiet if it is shorter, since a
// cap below the quiet period would make the quiet period meaningless.
func NewDebounceWindow(quiet, maxWait time.Duration) *DebounceWindow {
	if quiet <= 0 {
		quiet = DefaultCatalogQuiet
	}
	if maxWait <= 0 {
		maxWait = DefaultCatalogMaxWait
	}
	if maxWait < quiet {
		maxWait = quiet
	}
	return &DebounceWindow{quiet: quiet, maxWait: maxWait}
}

// Mark records one dirtying event at now. The first mark opens the window and
// fixes its max-wait deadline; later marks only push the quiet deadline.
// Marks that arrive out of order (times read on different goroutines) never
// move the quiet deadline backwards.
func (w *DebounceWindow) Mark(now time.Time) {
	if w.marks == 0 {
		w.first, w.last = now, now
	} else if now.After(w.last) {
		w.last = now
	}
	w.marks++
}

// Dirty reports whether anything was marked since the last Reset.
func (w *DebounceWindow) Dirty() bool { return w.marks > 0 }

// Due returns when the window should be synced: min(last+quiet, first+maxWait).
// It is false when the window is clean. Due never moves earlier as marks
// arrive, which lets a runner sleep until it without listening to marks.
func (w *DebounceWindow) Due() (time.Time, bool) {
	if w.marks == 0 {
		return time.Time{}, false
	}
	quietAt, capAt := w.last.Add(w.quiet), w.first.Add(w.maxWait)
	if capAt.Before(quietAt) {
		return capAt, true
	}
	return quietAt, true
}

// Marks returns how many events the window coalesces.
func (w *DebounceWindow) Marks() int { return w.marks }

// Reset empties the window; the next Mark opens a new one.
func (w *DebounceWindow) Reset() {
	w.first, w.last, w.marks = time.Time{}, time.Time{}, 0
}

// Debouncer runs the catalog sync: Mark is called for every product event,
// Run calls sync once per window.
//
// A window is handed to sync whole and the Debouncer starts a new one at that
// moment, so marks arriving while a sync runs are neither lost nor claimed by
// a regeneration that may already have read the catalog: they make the next
// window. Only the Run goroutine calls sync, so syncs never overlap.
//
// A failed sync keeps its marks: they join whatever arrives meanwhile and are
// retried after a backoff that doubles from quiet up to maxWait, or later if
// the error carries a Retry-After. Retries go on while ctx lives; giving up
// (alerting, dropping) is the caller's decision, taken in OnError or in sync
// itself, since only the caller knows what a lost regeneration costs.
//
// The caller that commits offsets only after a successful sync (docs/contract.md)
// should snapshot the offsets it has marked when sync starts: everything
// marked before that moment is covered by the regeneration.
type Debouncer struct {
	// OnError, when set before Run, learns of every failed sync; attempt
	// counts consecutive failures of the same pending marks, from 1. It is
	// called on the Run goroutine, before the backoff starts.
	OnError func(err error, attempt int)

	quiet, maxWait time.Duration
	syncFn         func(ctx context.Context, coalesced int) error
	wake           chan struct{} // capacity 1: a pending wake-up is enough

	mu  sync.Mutex
	win *DebounceWindow
}

// NewDebouncer returns a Debouncer over a window of quiet and maxWait
// (non-positive values take the defaults). syncFn regenerates the catalog and
// receives the number of marks it covers; it must not be nil.
func NewDebouncer(quiet, maxWait time.Duration, syncFn func(ctx context.Context, coalesced int) error) *Debouncer {
	if syncFn == nil {
		panic("pipeline: NewDebouncer with nil sync")
	}
	win := NewDebounceWindow(quiet, maxWait)
	return &Debouncer{
		quiet:   win.quiet,
		maxWait: win.maxWait,
		syncFn:  syncFn,
		wake:    make(chan struct{}, 1),
		win:     win,
	}
}

// Mark records a dirtying event now. It never blocks on the sync and is safe
// from any goroutine, before or during Run.
func (d *Debouncer) Mark() {
	d.mu.Lock()
	d.win.Mark(time.Now())
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run syncs each window when it is due until ctx is done, then returns nil.
// It never starts a sync after ctx is done; a sync already running receives
// ctx and Run returns when it does. Marks not yet synced are dropped on return:
// their offsets were not committed, so Kafka delivers them again. Call Run
// once.
func (d *Debouncer) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	var (
		pending int       // marks of failed syncs, carried to the next one
		attempt int       // consecutive failed syncs
		retryAt time.Time // earliest next sync after a failure
	)
	for {
		if ctx.Err() != nil {
			return nil
		}
		d.mu.Lock()
		due, dirty := d.win.Due()
		d.mu.Unlock()
		if attempt > 0 {
			// A retry is not pushed back by new marks: the catalog has
			// already waited, and the retry covers them anyway.
			due, dirty = retryAt, true
		}
		if !dirty {
			select {
			case <-ctx.Done():
				return nil
			case <-d.wake:
				continue
			}
		}
		if wait := time.Until(due); wait > 0 {
			// Due only moves later while we sleep, so marks need not
			// wake us: on expiry the loop recomputes it.
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
			continue
		}

		d.mu.Lock()
		n := pending + d.win.Marks()
		d.win.Reset()
		d.mu.Unlock()

		err := d.syncFn(ctx, n)
		if err == nil {
			pending, attempt = 0, 0
			continue
		}
		if ctx.Err() != nil {
			return nil // shutdown interrupted the sync: not a downstream failure
		}
		pending, attempt = n, attempt+1
		retryAt = time.Now().Add(d.backoff(attempt, err))
		if d.OnError != nil {
			d.OnError(err, attempt)
		}
	}
}

// backoff is quiet·2^(attempt-1) capped at maxWait, or the error's
// Retry-After when that is longer: the downstream's word wins over our guess.
func (d *Debouncer) backoff(attempt int, err error) time.Duration {
	delay := d.quiet
	for i := 1; i < attempt && delay < d.maxWait; i++ {
		delay *= 2
	}
	delay = min(delay, d.maxWait)
	if after, ok := RetryAfter(err); ok && after > delay {
		delay = after
	}
	return delay
}
