package clickhouse

import (
	"context"

	"github.com/shopstream/shopstream/pipeline"
)

// Isolate writes rows with insert and, when insert refuses them for good
// (a pipeline.PermanentError), halves the batch until it has found the rows
// at fault: every other row is written, and each refused row comes back in
// rejected, keyed by its index in rows, with the error its single-row
// insert gave. A batch refused only for its shape (too many partitions in
// one block) ends with nothing rejected.
//
// Any other error (ClickHouse away, the context ending) stops the search
// and is returned with rejected nil: the caller keeps the batch and calls
// again later. Rows written before the stop are then written again, so
// insert must be idempotent (webhook_events collapses re-delivered rows).
//
// Cost: one insert when nothing is wrong; for k bad rows among n, at most
// about 2·k·log2(n) inserts, each a small part ClickHouse merges later.
func Isolate[T any](ctx context.Context, rows []T, insert func(context.Context, []T) error) (rejected map[int]error, err error) {
	rejected = map[int]error{}
	if err := isolate(ctx, rows, 0, insert, rejected); err != nil {
		return nil, err
	}
	return rejected, nil
}

func isolate[T any](ctx context.Context, rows []T, base int, insert func(context.Context, []T) error, rejected map[int]error) error {
	if len(rows) == 0 {
		return nil
	}
	err := insert(ctx, rows)
	switch {
	case err == nil:
		return nil
	case !pipeline.IsPermanent(err):
		return err
	case len(rows) == 1:
		rejected[base] = err
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	half := len(rows) / 2
	if err := isolate(ctx, rows[:half], base, insert, rejected); err != nil {
		return err
	}
	return isolate(ctx, rows[half:], base+half, insert, rejected)
}
