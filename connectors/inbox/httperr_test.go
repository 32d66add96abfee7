package inbox

import (
	"net/http"
	"testing"
)

// Classification (408, 429, 5xx retryable; Retry-After) is httpx's, tested
// there; here: the StatusError inbox hands it, with the inbox's request id.
func TestNewStatusError(t *testing.T) {
	resp := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"X-Request-Id": {"req-9"}}}
	err := newStatusError("inbox login", resp, []byte(`{"message":"slow down"}`))
	want := StatusError{Op: "inbox login", Status: 429, Body: `{"message":"slow down"}`, RequestID: "req-9"}
	if se, ok := err.(*StatusError); !ok || *se != want || se.Error() != `inbox login: HTTP 429: {"message":"slow down"} (request id req-9)` {
		t.Errorf("newStatusError = %#v (%v), want %#v", err, err, want)
	}
	if got := (&StatusError{Op: "inbox post message", Status: 401}).Error(); got != "inbox post message: HTTP 401" {
		t.Errorf("without body or request id: %q", got)
	}
}
