package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// windowWidths are the windows newestWindow tries, each wider than the
// last; past the widest it gives up narrowing and the caller reads its
// whole range.
var windowWidths = []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 31 * 24 * time.Hour}

// newestWindow finds where a "newest n" read can start. The console lists
// the newest rows of a range (ORDER BY <column> DESC LIMIT n); on a table
// sorted by column, reading only the newest window that holds at least n
// matching items gives the same answer as reading the range, because every
// item in the window is newer than every item before it (column has
// second precision and the window starts on a second). It returns the
// start of that window, or since (zero: open) when even the widest window
// holds fewer than n, or reaches back past since.
//
// The windows end at until, or at the store's clock when until is zero
// (rows stamped later, a host's clock ahead, are inside every window).
// count is the aggregate counting items, e.g. uniqExact(a, b) when the
// caller lists groups; empty counts rows, reading at most n of them.
// where and args are the caller's conditions without the window.
func (s *Store) newestWindow(ctx context.Context, table, column string, where []string, args []any, since, until time.Time, n int, count string) (time.Time, error) {
	end := until
	if end.IsZero() {
		end = s.now()
	}
	end = end.Truncate(time.Second)
	for _, w := range windowWidths {
		from := end.Add(-w)
		if !since.IsZero() && !from.After(since) {
			return since, nil
		}
		cond := append(append([]string{}, where...), column+" >= toDateTime(?, 'UTC')")
		a := append(append([]any{}, args...), from.UTC().Unix())
		sql := fmt.Sprintf("SELECT count() FROM (SELECT 1 FROM %s WHERE %s LIMIT %d)", table, strings.Join(cond, " AND "), n)
		if count != "" {
			sql = fmt.Sprintf("SELECT %s FROM %s WHERE %s", count, table, strings.Join(cond, " AND "))
		}
		var got uint64
		if err := s.conn.QueryRow(ctx, sql, a...).Scan(&got); err != nil {
			return time.Time{}, fmt.Errorf("window of %s: %w", table, err)
		}
		if got >= uint64(n) {
			return from, nil
		}
	}
	return since, nil
}
