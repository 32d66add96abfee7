package httpx

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, in string
		want     time.Duration
	}{
		{"empty", "", 0},
		{"seconds", "7", 7 * time.Second},
		{"zero", "0", 0},
		{"negative", "-3", 0},
		{"http date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"date in the past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"garbage", "soon", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseRetryAfter(tt.in, now); got != tt.want {
				t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		permanent  bool
		after      time.Duration
	}{
		{http.StatusBadRequest, "", true, 0},
		{http.StatusUnauthorized, "", true, 0},
		{http.StatusNotFound, "", true, 0},
		{http.StatusRequestTimeout, "", false, 0},
		{http.StatusTooManyRequests, "3", false, 3 * time.Second},
		{http.StatusInternalServerError, "", false, 0},
		{http.StatusServiceUnavailable, "12", false, 12 * time.Second},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: http.Header{}}
			if tt.retryAfter != "" {
				resp.Header.Set("Retry-After", tt.retryAfter)
			}
			cause := errors.New(StatusMessage("op", tt.status, Snippet([]byte(`{"msg":"x"}`)), "", ""))
			err := Classify(cause, resp, time.Now())
			if got := pipeline.IsPermanent(err); got != tt.permanent {
				t.Fatalf("IsPermanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			if after, _ := pipeline.RetryAfter(err); after != tt.after {
				t.Errorf("RetryAfter = %s, want %s", after, tt.after)
			}
			if !errors.Is(err, cause) {
				t.Errorf("%v does not wrap the caller's error", err)
			}
		})
	}
}

func TestStatusMessage(t *testing.T) {
	tests := []struct {
		op           string
		status       int
		body, idName string
		id           string
		want         string
	}{
		{"evershop login", 502, "", "", "", "evershop login: HTTP 502"},
		{"inbox login", 400, `{"message":"bad"}`, "request id", "", `inbox login: HTTP 400: {"message":"bad"}`},
		{"inbox login", 400, `{"message":"bad"}`, "request id", "req-1", `inbox login: HTTP 400: {"message":"bad"} (request id req-1)`},
		{"coze list documents", 503, "", "log id", "2025abc", "coze list documents: HTTP 503 (log id 2025abc)"},
	}
	for _, tt := range tests {
		if got := StatusMessage(tt.op, tt.status, tt.body, tt.idName, tt.id); got != tt.want {
			t.Errorf("StatusMessage(%q, %d, %q, %q, %q) = %q, want %q", tt.op, tt.status, tt.body, tt.idName, tt.id, got, tt.want)
		}
	}
}

func TestSnippet(t *testing.T) {
	long := strings.Repeat("x", 301)
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"trimmed", "  \n{\"msg\":\"x\"}\n", `{"msg":"x"}`},
		{"at the limit", long[:300], long[:300]},
		{"cut", long, long[:300] + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Snippet([]byte(tt.in)); got != tt.want {
				t.Errorf("Snippet = %q, want %q", got, tt.want)
			}
		})
	}
}
