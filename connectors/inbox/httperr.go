package inbox

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// StatusError is a non-2xx answer. It is always wrapped in a
// pipeline.RetryableError or pipeline.PermanentError; errors.As finds it
// through either.
type StatusError struct {
	Op        string // what the client was doing, e.g. "inbox login"
	Status    int
	Body      string // the start of the response body, for the operator
	RequestID string // X-Request-Id, to find the call in the inbox's logs
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: HTTP %d", e.Op, e.Status)
	if e.Body != "" {
		s += ": " + e.Body
	}
	if e.RequestID != "" {
		s += " (request id " + e.RequestID + ")"
	}
	return s
}

// classifyStatus turns a non-2xx response into a classified error: 408, 429
// and 5xx are transient (honouring Retry-After), any other status is a
// contract error that retrying cannot fix.
func classifyStatus(op string, resp *http.Response, body []byte, now time.Time) error {
	err := &StatusError{Op: op, Status: resp.StatusCode, Body: snippet(body), RequestID: resp.Header.Get("X-Request-Id")}
	if resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return pipeline.Retryable(err, parseRetryAfter(resp.Header.Get("Retry-After"), now))
	}
	return pipeline.Permanent(err)
}

// parseRetryAfter reads Retry-After as delay-seconds or an HTTP date
// (RFC 9110 §10.2.3). Anything unreadable or in the past means "no hint".
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// snippet keeps error messages short: a gateway's HTML error page is not
// something to put in a log line or a DLQ header whole.
func snippet(b []byte) string {
	const max = 300
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
