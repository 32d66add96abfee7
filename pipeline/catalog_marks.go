package pipeline

import (
	"context"
	"time"
)

// SourcePosition is where the processors read an event: its record in a
// source or retry topic. A catalog mark carries the position of the event
// that caused it, so the sync can tell whether a snapshot contains it.
type SourcePosition struct {
	Topic     string
	Partition int32
	Offset    int64
}

// AppliedOffsets is how far the processors have applied events: for each
// topic and partition, the offset below which every record's effect is
// durable (the processor group's committed offset: a processor commits a
// product event only after its state write and its mark were acknowledged).
type AppliedOffsets map[string]map[int32]int64

// Covers reports whether the event at p was applied, so that a snapshot of
// the catalog taken after these offsets were read contains it.
func (a AppliedOffsets) Covers(p SourcePosition) bool {
	end, ok := a[p.Topic][p.Partition]
	return ok && p.Offset < end
}

// CatalogMark is one "the catalog is dirty" mark: when the ingress accepted
// the product event, and where the processors read it.
type CatalogMark struct {
	AcceptedAt time.Time
	Source     SourcePosition
}

// IngestProgress tells the catalog sync how far the processors are. It is
// asked when the quiet period has passed, and once more right before a sync.
type IngestProgress interface {
	// Applied returns the processors' applied offsets, read now, and
	// whether they have caught up: every product event accepted so far is
	// applied AND its mark has reached the caller (so the window knows the
	// real last accepted event).
	Applied(ctx context.Context) (applied AppliedOffsets, caughtUp bool, err error)
}
