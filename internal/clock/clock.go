// Package clock holds the waiting that shopstream's loops share: a sleep
// that ends with its context, and a bounded poll. It imports only the
// standard library and does no I/O, so the pure core (pipeline) may use it;
// under testing/synctest its waits take no real time.
package clock

import (
	"context"
	"errors"
	"time"
)

// Sleep waits d or until ctx ends, whichever is first, and returns ctx's
// error if it ended. A non-positive d only checks ctx.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Poll calls check until it returns nil, waiting interval between calls,
// for at most within (check runs at least once, and once more at the end
// of within). It returns nil, or check's last error; if ctx ends first,
// that error joined with ctx's.
func Poll(ctx context.Context, interval, within time.Duration, check func(context.Context) error) error {
	deadline := time.Now().Add(within)
	for {
		err := check(ctx)
		left := time.Until(deadline)
		if err == nil || left <= 0 {
			return err
		}
		if serr := Sleep(ctx, min(interval, left)); serr != nil {
			return errors.Join(err, serr)
		}
	}
}
