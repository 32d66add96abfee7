package consume

import "time"

// Backoff doubles a wait from Min up to Max. The zero value is not useful;
// build it with NewBackoff.
type Backoff struct{ min, max, cur time.Duration }

// NewBackoff returns a backoff starting at lo and capped at hi.
func NewBackoff(lo, hi time.Duration) *Backoff { return &Backoff{min: lo, max: hi} }

// Next returns the next wait.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else if b.cur *= 2; b.cur > b.max {
		b.cur = b.max
	}
	return b.cur
}

// Reset starts over at Min.
func (b *Backoff) Reset() { b.cur = 0 }
