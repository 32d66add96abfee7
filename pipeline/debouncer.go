package pipeline

import (
	"context"
	"sync"
	"time"
)

// DebouncerConfig configures a Debouncer. Zero values take defaults.
type DebouncerConfig struct {
	// Quiet and MaxWait shape the window (see DebounceWindow).
	Quiet, MaxWait time.Duration
	// Recheck is how often the processors' progress is asked again while
	// the quiet period has passed but they have not caught up: Quiet/4,
	// between 50 ms and 1 s.
	Recheck time.Duration
	// Now is the clock; nil means time.Now. It must be the clock the waits
	// run on (time.Now, or the fake one of testing/synctest), since the
	// window compares it with the ingress's received-at.
	Now func() time.Time
	// OnError, when set, learns of every failed sync; attempt counts
	// consecutive failures, from 1. It runs on the Run goroutine, before
	// the backoff starts. A failed progress probe is reported with
	// attempt 0 and is not a failed sync.
	OnError func(err error, attempt int)
}

// CatalogSyncRequest is what one regeneration is asked to do. It covers
// every mark taken before it started: a processor sends a mark only after
// the product's change is durable, so the snapshot the sync takes contains
// all of them.
type CatalogSyncRequest struct {
	// Marks is how many marks the window handed over (a failed sync's
	// marks included): for logs and metrics.
	Marks int
	// Attempt is 1 for a first try, n for the n-th consecutive try after
	// failures.
	Attempt int
	// Forced: the max wait expired before the processors caught up (marks
	// of the same burst may follow and make another window).
	Forced bool
}

// Debouncer runs the catalog sync of one owner (one partition of the sync
// topic): Mark is called for every mark, Run calls sync once per window.
//
// A window is synced when the quiet period has passed since the last
// accepted event it knows of AND the processors report that they have
// caught up (IngestProgress), or when the max wait since its first event
// has passed, whichever comes first. The window is handed to sync whole and
// a new one starts at that moment; only the Run goroutine calls sync, so
// syncs never overlap.
//
// A failed sync keeps its marks: they join whatever arrives meanwhile and
// are retried after a backoff that doubles from quiet up to maxWait, or
// later if the error carries a Retry-After, for as long as ctx lives (a
// knowledge-base outage is waited out). Whether a permanent failure should
// stop retrying is the sync function's decision: it sees the attempt number
// and returns nil once it dead-lettered what it covers.
//
// Memory is a handful of times and counters, whatever the number of marks
// and the length of an outage.
type Debouncer struct {
	cfg      DebouncerConfig
	progress IngestProgress
	syncFn   func(context.Context, CatalogSyncRequest) error
	wake     chan struct{} // capacity 1: a pending wake-up is enough

	mu  sync.Mutex
	win *DebounceWindow
}

// NewDebouncer returns a Debouncer. progress and sync must not be nil.
func NewDebouncer(cfg DebouncerConfig, progress IngestProgress, sync func(context.Context, CatalogSyncRequest) error) *Debouncer {
	if progress == nil || sync == nil {
		panic("pipeline: NewDebouncer with nil progress or sync")
	}
	win := NewDebounceWindow(cfg.Quiet, cfg.MaxWait)
	cfg.Quiet, cfg.MaxWait = win.quiet, win.maxWait
	if cfg.Recheck <= 0 {
		cfg.Recheck = min(max(cfg.Quiet/4, 50*time.Millisecond), time.Second)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Debouncer{cfg: cfg, progress: progress, syncFn: sync, wake: make(chan struct{}, 1), win: win}
}

// Mark records a mark of an event accepted at acceptedAt. It never blocks
// on the sync and is safe from any goroutine, before or during Run.
func (d *Debouncer) Mark(acceptedAt time.Time) {
	d.mu.Lock()
	d.win.Mark(acceptedAt)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Pending returns how many marks wait for a sync (the current window).
func (d *Debouncer) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.win.Marks()
}

// Run syncs each window when it is due until ctx is done, then returns nil.
// It never starts a sync after ctx is done; a sync already running receives
// ctx and Run returns when it does. Call Run once.
func (d *Debouncer) Run(ctx context.Context) error {
	var (
		carried int       // marks of failed syncs
		attempt int       // consecutive failed syncs
		retryAt time.Time // earliest next sync after a failure
	)
	for ctx.Err() == nil {
		now := d.cfg.Now()
		d.mu.Lock()
		phase, until := d.win.Phase(now)
		d.mu.Unlock()
		if attempt > 0 {
			// A retry is not pushed back by new marks nor held by the
			// processors: the catalog has already waited.
			if now.Before(retryAt) {
				d.sleep(ctx, retryAt.Sub(now))
				continue
			}
			phase = WindowExpired
		}
		switch phase {
		case WindowIdle:
			select {
			case <-ctx.Done():
			case <-d.wake:
			}
			continue
		case WindowQuiet:
			// The deadline only moves later while we sleep, so marks need
			// not wake us: on expiry the loop looks again.
			d.sleep(ctx, until.Sub(now))
			continue
		}

		caughtUp := false
		if phase == WindowSettling {
			var err error
			if caughtUp, err = d.progress.CaughtUp(ctx); err != nil && ctx.Err() == nil && d.cfg.OnError != nil {
				d.cfg.OnError(err, 0)
			}
			if !caughtUp {
				d.sleep(ctx, min(d.cfg.Recheck, until.Sub(now)))
				continue
			}
		}

		d.mu.Lock()
		if p, _ := d.win.Phase(d.cfg.Now()); attempt == 0 && p == WindowQuiet {
			// Marks that arrived during the probe moved the quiet deadline.
			d.mu.Unlock()
			continue
		}
		n := carried + d.win.Marks()
		d.win.Reset(now)
		d.mu.Unlock()

		err := d.syncFn(ctx, CatalogSyncRequest{Marks: n, Attempt: attempt + 1, Forced: phase == WindowExpired && attempt == 0})
		if err == nil {
			carried, attempt = 0, 0
			continue
		}
		if ctx.Err() != nil {
			return nil // shutdown or revoke interrupted the sync: not a downstream failure
		}
		carried, attempt = n, attempt+1
		retryAt = d.cfg.Now().Add(d.backoff(attempt, err))
		if d.cfg.OnError != nil {
			d.cfg.OnError(err, attempt)
		}
	}
	return nil
}

func (d *Debouncer) sleep(ctx context.Context, wait time.Duration) {
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// backoff is quiet·2^(attempt-1) capped at maxWait, or the error's
// Retry-After when that is longer: the downstream's word wins over our guess.
func (d *Debouncer) backoff(attempt int, err error) time.Duration {
	delay := d.cfg.Quiet
	for i := 1; i < attempt && delay < d.cfg.MaxWait; i++ {
		delay *= 2
	}
	delay = min(delay, d.cfg.MaxWait)
	if after, ok := RetryAfter(err); ok && after > delay {
		delay = after
	}
	return delay
}
