package pipeline

import (
	"time"
)

// ProductVersion orders the states of one product, so the catalog state
// never goes backwards: an older product event that arrives late (through a
// retry tier, or replayed from the DLQ) must not overwrite a newer one.
//
// Newer is decided by UpdatedAt (EverShop's updated_at, else the envelope's
// timestamp), then by when the ingress accepted the event (ReceivedAt):
// EverShop stamps whole seconds, so two edits within a second are ordered by
// arrival. A zero UpdatedAt (an event that carries no time at all) falls back
// to ReceivedAt alone.
type ProductVersion struct {
	UpdatedAt  time.Time
	ReceivedAt time.Time
}

// ProductEventVersion is the version of the product state an event writes.
func ProductEventVersion(ev Event) ProductVersion {
	v := ProductVersion{UpdatedAt: ev.Timestamp, ReceivedAt: ev.ReceivedAt}
	if f, err := decodeDataFields(ev.Data); err == nil {
		if t := f.time("updated_at", "updatedAt"); !t.IsZero() {
			v.UpdatedAt = t
		}
	}
	if v.UpdatedAt.IsZero() {
		v.UpdatedAt = ev.ReceivedAt
	}
	v.UpdatedAt, v.ReceivedAt = v.UpdatedAt.UTC(), v.ReceivedAt.UTC()
	return v
}

// Compare returns -1, 0 or +1 as v is older than, the same as, or newer
// than w.
func (v ProductVersion) Compare(w ProductVersion) int {
	if c := v.UpdatedAt.Compare(w.UpdatedAt); c != 0 {
		return c
	}
	return v.ReceivedAt.Compare(w.ReceivedAt)
}

// Supersedes reports whether a state of version v may replace one of
// version w: it is not older. An equal version is the same event again (a
// redelivery) and rewriting it changes nothing.
func (v ProductVersion) Supersedes(w ProductVersion) bool { return v.Compare(w) >= 0 }
