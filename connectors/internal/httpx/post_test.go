package httpx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// statusError stands in for a connector's StatusError.
type statusError struct {
	op     string
	status int
	body   string
}

func (e *statusError) Error() string { return StatusMessage(e.op, e.status, e.body, "", "") }

func newStatusError(op string, resp *http.Response, body []byte) error {
	return &statusError{op, resp.StatusCode, Snippet(body)}
}

func TestPostJSON(t *testing.T) {
	var got *http.Request
	var gotBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		gotBody, _ = io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/slow":
			select {
			case <-time.After(time.Minute): // the client gives up long before
			case <-r.Context().Done():
			}
		case "/busy":
			w.Header().Set("Retry-After", r.URL.Query().Get("retry-after"))
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		}
		w.Header().Set("X-Request-Id", "req-1")
		_, _ = io.WriteString(w, "0123456789")
	}))
	t.Cleanup(srv.Close)
	req := Request{Op: "test op", URL: srv.URL + "/x", Body: map[string]int{"a": 1}, Bearer: "tok",
		Header:  http.Header{"Idempotency-Key": {"evt-1"}, "Authorization": {"not this"}, "Accept": {"text/html"}},
		Timeout: 2 * time.Second, MaxResponseBytes: 4, StatusError: newStatusError}
	with := func(mutate func(*Request)) Request {
		r := req
		mutate(&r)
		return r
	}

	t.Run("2xx: bounded body and headers", func(t *testing.T) {
		body, header, err := PostJSON(t.Context(), srv.Client(), req)
		if err != nil || string(body) != "0123" || header.Get("X-Request-Id") != "req-1" {
			t.Fatalf("body=%q header=%v err=%v", body, header, err)
		}
		h := got.Header
		if got.Method != http.MethodPost || h.Get("Authorization") != "Bearer tok" || h.Get("Content-Type") != "application/json" ||
			len(h.Values("Accept")) != 1 || h.Get("Accept") != "application/json" || h.Get("Idempotency-Key") != "evt-1" || string(gotBody) != `{"a":1}` {
			t.Errorf("sent %s %v %q", got.Method, h, gotBody)
		}
	})
	t.Run("a json.RawMessage is sent as it is", func(t *testing.T) {
		raw, err := EncodeJSON("op", map[string]string{"q": "<b>"})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := PostJSON(t.Context(), srv.Client(), with(func(r *Request) { r.Body = raw })); err != nil || !bytes.Equal(gotBody, raw) {
			t.Fatalf("sent %q, want %q (err %v)", gotBody, raw, err)
		}
	})
	t.Run("no bearer, no Authorization", func(t *testing.T) {
		r := with(func(r *Request) { r.Bearer, r.Header = "", nil })
		if _, _, err := PostJSON(t.Context(), srv.Client(), r); err != nil || got.Header.Get("Authorization") != "" {
			t.Fatalf("err=%v Authorization=%q", err, got.Header.Get("Authorization"))
		}
	})
	t.Run("non-2xx: the caller's error, classified", func(t *testing.T) {
		now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		tests := []struct {
			path, retryAfter string
			permanent        bool
			after            time.Duration
			msg              string
		}{
			{"/teapot", "", true, 0, "test op: HTTP 418: 0123"},
			{"/busy", "7", false, 7 * time.Second, "test op: HTTP 503: 0123"},
			{"/busy", now.Add(time.Minute).Format(http.TimeFormat), false, time.Minute, "test op: HTTP 503: 0123"},
		}
		for _, tt := range tests {
			r := with(func(r *Request) {
				r.URL = srv.URL + tt.path + "?retry-after=" + url.QueryEscape(tt.retryAfter)
				r.Now = func() time.Time { return now }
			})
			body, _, err := PostJSON(t.Context(), srv.Client(), r)
			var se *statusError
			if body != nil || !errors.As(err, &se) || se.Error() != tt.msg || pipeline.IsPermanent(err) != tt.permanent {
				t.Fatalf("%s: body=%q err=%v, want %q permanent=%v", tt.path, body, err, tt.msg, tt.permanent)
			}
			if after, _ := pipeline.RetryAfter(err); after != tt.after {
				t.Errorf("%s: RetryAfter = %s, want %s", tt.path, after, tt.after)
			}
		}
	})
	t.Run("unencodable body is permanent, nothing sent", func(t *testing.T) {
		got = nil
		_, _, err := PostJSON(t.Context(), srv.Client(), with(func(r *Request) { r.Body = func() {} }))
		if !pipeline.IsPermanent(err) || !strings.Contains(err.Error(), "test op: encode request: ") || got != nil {
			t.Fatalf("err = %v, sent %v; want permanent encode error", err, got)
		}
	})
	t.Run("bad URL is permanent", func(t *testing.T) {
		_, _, err := PostJSON(t.Context(), srv.Client(), with(func(r *Request) { r.URL = "http://[::1" }))
		if !pipeline.IsPermanent(err) || !strings.HasPrefix(errors.Unwrap(err).Error(), "test op: build request: ") {
			t.Fatalf("err = %v, want permanent build error", err)
		}
	})
	t.Run("timeout is retryable", func(t *testing.T) {
		r := with(func(r *Request) { r.URL, r.Timeout = srv.URL+"/slow", 50*time.Millisecond })
		_, _, err := PostJSON(t.Context(), srv.Client(), r)
		if err == nil || pipeline.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want retryable deadline exceeded", err)
		}
	})
	t.Run("connection refused is retryable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		_, _, err := PostJSON(t.Context(), http.DefaultClient, with(func(r *Request) { r.URL = dead.URL }))
		if err == nil || pipeline.IsPermanent(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
	})
}

func TestEncodeJSON(t *testing.T) {
	if b, err := EncodeJSON("op", map[string]int{"b": 2, "a": 1}); err != nil || string(b) != `{"a":1,"b":2}` {
		t.Fatalf("EncodeJSON = %s, %v", b, err)
	}
	if _, err := EncodeJSON("op", func() {}); !pipeline.IsPermanent(err) || !strings.Contains(err.Error(), "op: encode request: ") {
		t.Fatalf("err = %v, want permanent encode error", err)
	}
}

func TestDefaults(t *testing.T) {
	hc, log := Defaults(nil, nil, "coze")
	if hc == nil || log == nil {
		t.Fatal("nil defaults")
	}
	var buf bytes.Buffer
	mine := &http.Client{}
	hc, log = Defaults(mine, slog.New(slog.NewTextHandler(&buf, nil)), "inbox")
	log.Info("hello")
	if hc != mine || !strings.Contains(buf.String(), "component=inbox") {
		t.Errorf("client kept: %v, log: %s", hc == mine, buf.String())
	}
}

func TestCheckBaseURL(t *testing.T) {
	const setting = "inbox: BaseURL (INBOX_API_URL)"
	tests := []struct{ in, want string }{
		{"http://inbox:3000", ""},
		{"https://api.coze.com", ""},
		{"", "inbox: BaseURL (INBOX_API_URL) is required"},
		{"inbox:3000", `inbox: BaseURL (INBOX_API_URL) "inbox:3000" is not an http(s) URL`},
		{"ftp://inbox", `inbox: BaseURL (INBOX_API_URL) "ftp://inbox" is not an http(s) URL`},
		{"http://", `inbox: BaseURL (INBOX_API_URL) "http://" is not an http(s) URL`},
	}
	for _, tt := range tests {
		err := CheckBaseURL(setting, tt.in)
		if got := fmtErr(err); got != tt.want {
			t.Errorf("CheckBaseURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSetDefault(t *testing.T) {
	d, n, s := time.Duration(0), 7, ""
	SetDefault(&d, time.Minute)
	SetDefault(&n, 500)
	SetDefault(&s, "txt")
	if d != time.Minute || n != 7 || s != "txt" {
		t.Errorf("got %s %d %q, want 1m0s 7 txt", d, n, s)
	}
	neg := -time.Second
	if SetDefault(&neg, time.Minute); neg != -time.Second {
		t.Errorf("a negative value was replaced: %s (Validate reports it)", neg)
	}
}
