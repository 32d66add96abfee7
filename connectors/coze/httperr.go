package coze

import (
	"net/http"

	"github.com/shopstream/shopstream/connectors/internal/httpx"
)

// StatusError is a non-2xx answer. It is always wrapped in a
// pipeline.RetryableError or pipeline.PermanentError; errors.As finds it
// through either.
type StatusError struct {
	Op     string // what the client was doing, e.g. "coze list documents"
	Status int
	Body   string // the start of the response body, for the operator
	LogID  string // Coze's X-Tt-Logid, to quote to Coze support
}

func (e *StatusError) Error() string {
	return httpx.StatusMessage(e.Op, e.Status, e.Body, "log id", e.LogID)
}

// newStatusError describes a non-2xx answer; httpx.PostJSON classifies it.
func newStatusError(op string, resp *http.Response, body []byte) error {
	return &StatusError{Op: op, Status: resp.StatusCode, Body: httpx.Snippet(body), LogID: resp.Header.Get("X-Tt-Logid")}
}
