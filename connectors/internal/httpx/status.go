package httpx

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// Classify wraps err, the caller's description of the non-2xx answer resp:
// 408, 429 and 5xx are transient (pipeline.Retryable, honouring
// Retry-After relative to now), any other status is a contract error that
// retrying cannot fix (pipeline.Permanent).
func Classify(err error, resp *http.Response, now time.Time) error {
	if transient(resp.StatusCode) {
		return pipeline.Retryable(err, parseRetryAfter(resp.Header.Get("Retry-After"), now))
	}
	return pipeline.Permanent(err)
}

func transient(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
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

// StatusMessage is the text of a non-2xx answer's error: "op: HTTP status",
// then ": body" if there is one, then " (idName id)" if the connector has an
// id to quote (e.g. "log id", Coze's X-Tt-Logid).
func StatusMessage(op string, status int, body, idName, id string) string {
	s := fmt.Sprintf("%s: HTTP %d", op, status)
	if body != "" {
		s += ": " + body
	}
	if id != "" {
		s += " (" + idName + " " + id + ")"
	}
	return s
}

// snippetMax bounds Snippet, in bytes.
const snippetMax = 300

// Snippet keeps error messages short: a gateway's HTML error page is not
// something to put in a log line or a DLQ header whole.
func Snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > snippetMax {
		s = s[:snippetMax] + "…"
	}
	return s
}
