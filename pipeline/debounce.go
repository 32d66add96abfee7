package pipeline

import (
	"time"
)

// Catalog sync window defaults (SHOPSTREAM_CATALOG_QUIET, SHOPSTREAM_CATALOG_MAX_WAIT).
const (
	DefaultCatalogQuiet   = 2 * time.Second
	DefaultCatalogMaxWait = 30 * time.Second
)

// WindowPhase is where a catalog sync window stands at a given moment.
type WindowPhase int

const (
	// WindowIdle: nothing marked; nothing to wait for.
	WindowIdle WindowPhase = iota
	// WindowQuiet: events were accepted less than the quiet period ago;
	// wait until the returned time.
	WindowQuiet
	// WindowSettling: the quiet period has passed since the last accepted
	// event the window knows of. Sync as soon as the processors have applied
	// every event accepted so far; otherwise look again, at the latest at
	// the returned time (the max-wait deadline).
	WindowSettling
	// WindowExpired: the max wait since the window's first event has passed:
	// sync now, whatever the processors' progress.
	WindowExpired
)

func (p WindowPhase) String() string {
	switch p {
	case WindowIdle:
		return "idle"
	case WindowQuiet:
		return "quiet"
	case WindowSettling:
		return "settling"
	case WindowExpired:
		return "expired"
	}
	return "unknown"
}

// DebounceWindow is the arithmetic of the catalog sync window, with no clock
// and no goroutines: every answer is a function of the times passed in.
//
// A regeneration rebuilds the whole catalog, so a burst of product events
// (an import, a price change across a category) must cost one upload, not
// one per event: the window waits for a quiet period after the last event.
// A store that never goes quiet would then never sync, so the window is also
// due at most maxWait after its first event.
//
// The times are when the ingress ACCEPTED each event (its received-at), not
// when the mark reached the trigger: processors that fall behind (a loaded
// machine, a rebalance) deliver the marks of one burst over a longer span
// than the burst itself, and a window measured on arrival would split it.
// Received-at alone cannot tell that the burst is over, since the marks of
// its last events may still be on their way; that is the WindowSettling
// phase, in which the caller asks how far the processors are.
//
// The zero value is not usable; use NewDebounceWindow. A DebounceWindow is not
// safe for concurrent use; Debouncer guards its own.
type DebounceWindow struct {
	quiet, maxWait time.Duration
	first, last    time.Time
	floor          time.Time // no window opens before this (see Reset)
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

// Mark records one event accepted at acceptedAt. The first mark opens the
// window and fixes its max-wait deadline (from acceptedAt, or from the
// floor set by Reset when that is later); later marks only push the quiet
// deadline. Marks in any order give the same window: the first is the
// earliest time, the last the latest.
func (w *DebounceWindow) Mark(acceptedAt time.Time) {
	opens := acceptedAt
	if opens.Before(w.floor) {
		opens = w.floor
	}
	switch w.marks {
	case 0:
		w.first, w.last = opens, acceptedAt
	default:
		if opens.Before(w.first) {
			w.first = opens
		}
		if acceptedAt.After(w.last) {
			w.last = acceptedAt
		}
	}
	w.marks++
}

// Dirty reports whether anything was marked since the last Reset.
func (w *DebounceWindow) Dirty() bool { return w.marks > 0 }

// Due returns the two deadlines of a dirty window: quietAt (last event plus
// the quiet period) and capAt (first event plus the max wait). ok is false
// when the window is clean.
func (w *DebounceWindow) Due() (quietAt, capAt time.Time, ok bool) {
	if w.marks == 0 {
		return time.Time{}, time.Time{}, false
	}
	return w.last.Add(w.quiet), w.first.Add(w.maxWait), true
}

// Phase says what the window wants at now, and until when: the time to wake
// up in WindowQuiet, the max-wait deadline in WindowSettling, zero otherwise.
func (w *DebounceWindow) Phase(now time.Time) (WindowPhase, time.Time) {
	quietAt, capAt, ok := w.Due()
	switch {
	case !ok:
		return WindowIdle, time.Time{}
	case !now.Before(capAt):
		return WindowExpired, time.Time{}
	case now.Before(quietAt):
		return WindowQuiet, minTime(quietAt, capAt)
	default:
		return WindowSettling, capAt
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Marks returns how many events the window coalesces.
func (w *DebounceWindow) Marks() int { return w.marks }

// Reset empties the window. The next window opens no earlier than notBefore
// (when the sync that took this window started): events accepted long ago
// (a backlog after a restart, or events the last sync could not cover
// because the processors had not applied them yet) would otherwise make a
// window that is expired at once, and a backlog would regenerate the
// catalog in a loop instead of once per max wait.
func (w *DebounceWindow) Reset(notBefore time.Time) {
	w.first, w.last, w.marks = time.Time{}, time.Time{}, 0
	if notBefore.After(w.floor) {
		w.floor = notBefore
	}
}
