package evershop

import (
	"net/http"
	"strings"
	"testing"
)

// Classification (408, 429, 5xx retryable; Retry-After) is httpx's, tested
// there; here: the StatusError evershop hands it, which post's 429 handling
// and hasStatus look for, with a long error page cut short.
func TestNewStatusError(t *testing.T) {
	page := "<html>" + strings.Repeat("x", 400) + "</html>"
	err := newStatusError("evershop products page 3", &http.Response{StatusCode: http.StatusBadGateway}, []byte(page))
	want := StatusError{Op: "evershop products page 3", Status: 502, Body: page[:300] + "…"}
	if se, ok := err.(*StatusError); !ok || *se != want || se.Error() != "evershop products page 3: HTTP 502: "+want.Body {
		t.Errorf("newStatusError = %#v (%v), want %#v", err, err, want)
	}
	if !hasStatus(err, http.StatusBadGateway) {
		t.Error("hasStatus does not find it")
	}
}
