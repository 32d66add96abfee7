package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/shopstream/shopstream/pipeline"
)

// An insert can fail in three ways, and the analytics sink reacts to each
// differently:
//
//   - ClickHouse is away or overloaded (unavailableCodes, connection
//     errors): pipeline.RetryableError. The sink keeps the batch, backs off
//     and tries again, forever; nothing is committed meanwhile.
//   - ClickHouse cannot take any row of ours (schemaCodes: the table or a
//     column is missing, the user may not insert): also retryable, at a
//     slower pace. No row is at fault, so quarantining rows would move the
//     whole stream aside; an operator fixes it (`shopstream migrate`,
//     CLICKHOUSE_DSN) and the sink resumes by itself.
//   - These rows are bad (every other exception, client-side conversion
//     refusals, RowError): pipeline.PermanentError. Repeating the same insert
//     cannot help; the sink bisects the batch (Isolate) to find the rows at
//     fault and quarantines only them.

// unavailableCodes are exceptions a later attempt can succeed on: overload,
// timeouts, limits, a replica that is read-only for now, a full disk.
var unavailableCodes = map[int32]string{
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
	243: "NOT_ENOUGH_SPACE",
	252: "TOO_MANY_PARTS",
	285: "TOO_FEW_LIVE_REPLICAS",
	319: "UNKNOWN_STATUS_OF_INSERT",
	394: "QUERY_WAS_CANCELLED",
	425: "SYSTEM_ERROR",
	439: "CANNOT_SCHEDULE_TASK",
	473: "DEADLOCK_AVOIDED",
	999: "KEEPER_EXCEPTION",
}

// schemaCodes are exceptions that say the target, not the data, is wrong:
// the INSERT names a fixed table and column list, so none of these can be
// caused by one row.
var schemaCodes = map[int32]string{
	8:   "THERE_IS_NO_COLUMN",
	10:  "NOT_FOUND_COLUMN_IN_BLOCK",
	16:  "NO_SUCH_COLUMN_IN_TABLE",
	47:  "UNKNOWN_IDENTIFIER",
	60:  "UNKNOWN_TABLE",
	81:  "UNKNOWN_DATABASE",
	164: "READONLY",
	192: "UNKNOWN_USER",
	193: "WRONG_PASSWORD",
	194: "REQUIRED_PASSWORD",
	195: "IP_ADDRESS_NOT_ALLOWED",
	291: "DATABASE_ACCESS_DENIED",
	497: "ACCESS_DENIED",
	516: "AUTHENTICATION_FAILED",
}

// rowCodes name the exceptions that rows of data cause. Any code not in
// the two maps above is treated as one too (the safe side: a bad row must
// not stall the sink, and a quarantined row can be replayed); this table
// only gives the usual ones their name for the quarantine reason.
var rowCodes = map[int32]string{
	6:   "CANNOT_PARSE_TEXT",
	27:  "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
	32:  "ATTEMPT_TO_READ_AFTER_EOF",
	38:  "CANNOT_PARSE_DATE",
	41:  "CANNOT_PARSE_DATETIME",
	53:  "TYPE_MISMATCH",
	69:  "ARGUMENT_OUT_OF_BOUND",
	70:  "CANNOT_CONVERT_TYPE",
	72:  "CANNOT_PARSE_NUMBER",
	117: "INCORRECT_DATA",
	128: "TOO_LARGE_ARRAY_SIZE",
	131: "TOO_LARGE_STRING_SIZE",
	321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
	395: "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO",
	469: "VIOLATED_CONSTRAINT",
}

// schemaRetryAfter paces retries while the schema or the credentials are
// wrong: a person has to act, hammering the server will not help.
const schemaRetryAfter = 30 * time.Second

// tooManyPartitions is how current ClickHouse refuses one INSERT block that
// spans more partitions than max_partitions_per_insert_block (a batch of
// outcomes received over many months). It carries code 252 (TOO_MANY_PARTS)
// like an overloaded table, but retrying the same batch fails the same way;
// smaller batches succeed, so it is a batch-shape refusal that Isolate's
// halving resolves without rejecting any row.
const tooManyPartitions = "Too many partitions for single INSERT block"

// RowError is a row refused before it reached ClickHouse: a value that its
// column cannot hold. Reason is a short snake_case label for metrics.
type RowError struct {
	Reason string
	Err    error
}

func (e *RowError) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *RowError) Unwrap() error { return e.Err }

// QuarantineReason is Reason, for callers that must not import this
// package (the analytics sink declares the one-method interface it needs).
func (e *RowError) QuarantineReason() string { return e.Reason }

// Classify wraps err from operation op in the pipeline's error classes, so
// the analytics sink can tell "ClickHouse is away (or not set up), keep the
// batch and try again" (pipeline.RetryableError) from "these rows can never
// be written" (pipeline.PermanentError). Cancellation is returned
// unclassified: the caller is stopping, and the batch is neither failed nor
// done.
func Classify(op string, err error) error {
	if err == nil {
		return nil
	}
	wrapped := fmt.Errorf("clickhouse %s: %w", op, err)
	if errors.Is(err, context.Canceled) {
		return wrapped
	}
	var ex *ch.Exception
	var row *RowError
	switch {
	case errors.As(err, &row):
		return pipeline.Permanent(wrapped)
	case errors.As(err, &ex):
		if ex.Code == 252 && strings.Contains(ex.Message, tooManyPartitions) {
			return pipeline.Permanent(wrapped)
		}
		if _, ok := unavailableCodes[ex.Code]; ok {
			return pipeline.Retryable(wrapped, 0)
		}
		if _, ok := schemaCodes[ex.Code]; ok {
			return pipeline.Retryable(wrapped, schemaRetryAfter)
		}
		return pipeline.Permanent(wrapped)
	case isConnectionError(err):
		return pipeline.Retryable(wrapped, 0)
	}
	// What remains are client-side refusals (a value that does not convert
	// to its column, a malformed statement): permanent.
	return pipeline.Permanent(wrapped)
}

// Reason is a short, bounded label for why err refused a row, for the
// quarantine metric and record headers: the ClickHouse exception name in
// snake case (type_mismatch), a RowError's reason, "clickhouse_<code>" for
// an exception this package does not name, or "rejected".
func Reason(err error) string {
	var row *RowError
	if errors.As(err, &row) {
		return row.Reason
	}
	var ex *ch.Exception
	if errors.As(err, &ex) {
		for _, names := range []map[int32]string{rowCodes, unavailableCodes, schemaCodes} {
			if name, ok := names[ex.Code]; ok {
				return strings.ToLower(name)
			}
		}
		return "clickhouse_" + strconv.Itoa(int(ex.Code))
	}
	return "rejected"
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
