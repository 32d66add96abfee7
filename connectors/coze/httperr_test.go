package coze

import (
	"net/http"
	"testing"
)

// Classification (408, 429, 5xx retryable; Retry-After) is httpx's, tested
// there; here: the StatusError coze hands it, with Coze's log id.
func TestNewStatusError(t *testing.T) {
	resp := &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{"X-Tt-Logid": {"20250301abc"}}}
	err := newStatusError("coze list documents", resp, []byte(" busy\n"))
	want := StatusError{Op: "coze list documents", Status: 503, Body: "busy", LogID: "20250301abc"}
	if se, ok := err.(*StatusError); !ok || *se != want || se.Error() != "coze list documents: HTTP 503: busy (log id 20250301abc)" {
		t.Errorf("newStatusError = %#v (%v), want %#v", err, err, want)
	}
	if got := (&StatusError{Op: "coze create document", Status: 400}).Error(); got != "coze create document: HTTP 400" {
		t.Errorf("without body or log id: %q", got)
	}
}
