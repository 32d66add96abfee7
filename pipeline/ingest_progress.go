package pipeline

import (
	"context"
)

// IngestProgress tells the catalog sync whether the processors have caught
// up. It is asked once the quiet period has passed since the last accepted
// event the window knows of, and again every DebouncerConfig.Recheck until
// it says yes or the max wait expires.
type IngestProgress interface {
	// CaughtUp reports whether every product event accepted so far has
	// been applied (its state written and its mark sent) AND every mark
	// sent so far has reached the caller. Then the window knows the real
	// last accepted event, and a snapshot taken now contains every event
	// of the marks in hand.
	CaughtUp(ctx context.Context) (bool, error)
}
