package fakehttp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTake(t *testing.T) {
	type take struct {
		route  string
		status int // of the failure taken; 0: none
		down   bool
	}
	tests := []struct {
		name   string
		setup  func(Controls, Recorder)
		takes  []take
		counts map[string]int
	}{
		{
			name:  "healthy",
			takes: []take{{"/a", 0, false}, {"/a", 0, false}},
		},
		{
			name: "failures go in order, each once, to their route or any",
			setup: func(_ Controls, r Recorder) {
				r.Inject(1, Failure{Path: "/b", Status: 401})
				r.Inject(2, Failure{Status: 503})
			},
			takes: []take{{"/a", 503, false}, {"/b", 401, false}, {"/b", 503, false}, {"/b", 0, false}},
		},
		{
			name: "an outage keeps the queued failures for later",
			setup: func(c Controls, r Recorder) {
				r.Inject(1, Failure{Status: 500})
				c.SetDown(true)
			},
			takes: []take{{"/a", 0, true}, {"/a", 0, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, r := New()
			if tt.setup != nil {
				tt.setup(c, r)
			}
			want := map[string]int{}
			for i, tk := range tt.takes {
				fail, down, _ := r.Take(tk.route)
				want[tk.route]++
				got := 0
				if fail != nil {
					got = fail.Status
				}
				if got != tk.status || down != tk.down {
					t.Errorf("take %d (%s): failure %d down %v, want %d %v", i, tk.route, got, down, tk.status, tk.down)
				}
			}
			for route, n := range want {
				if got := c.Requests(route); got != n {
					t.Errorf("Requests(%q) = %d, want %d", route, got, n)
				}
			}
		})
	}
	t.Run("back up after an outage", func(t *testing.T) {
		c, r := New()
		r.Inject(1, Failure{Status: 500, RetryAfter: "2"})
		c.SetDown(true)
		r.Take("/a")
		c.SetDown(false)
		c.SetLatency(time.Second)
		if fail, down, latency := r.Take("/a"); fail == nil || fail.RetryAfter != "2" || down || latency != time.Second {
			t.Fatalf("fail=%+v down=%v latency=%s", fail, down, latency)
		}
	})
}

func TestViolations(t *testing.T) {
	c, r := New()
	if v := c.Violations(); len(v) != 0 {
		t.Fatalf("violations = %q", v)
	}
	if msg := r.Violation("%s: no such endpoint", "/x"); msg != "/x: no such endpoint" {
		t.Errorf("message %q", msg)
	}
	v := c.Violations()
	v[0] = "changed"
	if got := c.Violations(); !slices.Equal(got, []string{"/x: no such endpoint"}) {
		t.Errorf("violations = %q (a copy must not write through)", got)
	}
}

func TestWait(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	if !Wait(req, 0) || !Wait(req, time.Millisecond) {
		t.Fatal("Wait on a live request = false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if Wait(req.WithContext(ctx), time.Hour) || time.Since(start) > time.Second {
		t.Fatal("Wait on a cancelled request should return false at once")
	}
}

func TestRequestHelpers(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"dataset_id":7400000000000000001,"name":"a"}`))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if !HasBearer(req, "tok") || HasBearer(req, "other") || HasBearer(req, "") || !IsJSON(req) {
		t.Error("header checks")
	}
	body, err := DecodeObject(req)
	if id, _ := body["dataset_id"].(json.Number); err != nil || id != "7400000000000000001" || body["name"] != "a" {
		t.Errorf("DecodeObject = %v, %v", body, err)
	}
	if _, err := DecodeObject(httptest.NewRequest(http.MethodPost, "/", strings.NewReader("nope"))); err == nil {
		t.Error("DecodeObject accepted a non-JSON body")
	}
}

func TestWriteJSONAndRetryAfter(t *testing.T) {
	w := httptest.NewRecorder()
	f := &Failure{Status: http.StatusTooManyRequests, RetryAfter: DefaultRetryAfter(http.StatusTooManyRequests)}
	f.SetRetryAfter(w)
	WriteJSON(w, f.Status, map[string]any{"code": 429})
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" || w.Header().Get("Content-Type") != "application/json" || w.Body.String() != "{\"code\":429}\n" {
		t.Errorf("answer %d %v %q", w.Code, w.Header(), w.Body)
	}
	w = httptest.NewRecorder()
	(&Failure{Status: 503, RetryAfter: DefaultRetryAfter(503)}).SetRetryAfter(w)
	if _, ok := w.Header()["Retry-After"]; ok {
		t.Error("Retry-After on a 503 without one")
	}
}
