package clock

import "time"

// Backoff is a wait that doubles from its first value up to a cap: the
// consumer runtime's handler and load retries, Coze's processing poll, the
// chaos sender's resends. Build it with NewBackoff; it is not safe for
// concurrent use.
type Backoff struct{ first, limit, cur time.Duration }

// NewBackoff returns a backoff starting at first and capped at limit.
func NewBackoff(first, limit time.Duration) *Backoff { return &Backoff{first: first, limit: limit} }

// Next returns the next wait: first, then twice the previous one, never
// more than the cap.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = min(b.first, b.limit)
	} else {
		b.cur = min(b.cur*2, b.limit)
	}
	return b.cur
}

// Reset starts over at the first wait.
func (b *Backoff) Reset() { b.cur = 0 }
