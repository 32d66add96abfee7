package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/shopstream/shopstream/pipeline"
)

// transientCodes are ClickHouse exception codes that a later attempt can
// succeed on: overload, timeouts, replication hiccups. Every other server
// exception (unknown table or column, type mismatch, syntax) means the
// schema and the data disagree, and repeating the insert cannot help.
var transientCodes = map[int32]string{
	159: "TIMEOUT_EXCEEDED",
	160: "TOO_SLOW",
	201: "QUOTA_EXPIRED",
	202: "TOO_MANY_SIMULTANEOUS_QUERIES",
	203: "NO_FREE_CONNECTION",
	209: "SOCKET_TIMEOUT",
	210: "NETWORK_ERROR",
	236: "ABORTED",
	241: "MEMORY_LIMIT_EXCEEDED",
	242: "TABLE_IS_READ_ONLY",
	252: "TOO_MANY_PARTS",
	285: "TOO_FEW_LIVE_REPLICAS",
	319: "UNKNOWN_STATUS_OF_INSERT",
	394: "QUERY_WAS_CANCELLED",
	425: "SYSTEM_ERROR",
	439: "CANNOT_SCHEDULE_TASK",
	473: "DEADLOCK_AVOIDED",
	999: "KEEPER_EXCEPTION",
}

// Classify wraps err from operation op in the pipeline's error classes, so
// the analytics sink can tell "ClickHouse is away, stop committing and try
// again" (pipeline.RetryableError) from "this batch can never be written"
// (pipeline.PermanentError). Cancellation is returned unclassified: the
// caller is stopping, and the batch is neither failed nor done.
func Classify(op string, err error) error {
	if err == nil {
		return nil
	}
	wrapped := fmt.Errorf("clickhouse %s: %w", op, err)
	if errors.Is(err, context.Canceled) {
		return wrapped
	}
	var ex *ch.Exception
	if errors.As(err, &ex) {
		if _, ok := transientCodes[ex.Code]; ok {
			return pipeline.Retryable(wrapped, 0)
		}
		return pipeline.Permanent(wrapped)
	}
	if isConnectionError(err) {
		return pipeline.Retryable(wrapped, 0)
	}
	// What remains are client-side refusals (a value that does not convert
	// to its column, a malformed statement): permanent.
	return pipeline.Permanent(wrapped)
}

// isConnectionError reports failures to reach or keep talking to the
// server: refused or reset connections, timeouts, a closed pool.
func isConnectionError(err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, ch.ErrAcquireConnTimeout),
		errors.Is(err, ch.ErrConnectionClosed),
		errors.As(err, &opErr),
		errors.As(err, &netErr) && netErr.Timeout():
		return true
	}
	return false
}
