package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shopstream/shopstream/pipeline"
)

// syncBuffer is a log sink goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(s.b.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func logServer(t *testing.T, pub Publisher, level slog.Level, buf *syncBuffer) (*Server, *prometheus.Registry) {
	t.Helper()
	secrets, _ := pipeline.ParseSecrets(secret)
	reg := prometheus.NewRegistry()
	s, err := New(DefaultConfig(), Deps{
		Verifier:  pipeline.NewVerifier(secrets, 0),
		Publisher: pub,
		Registry:  reg,
		Logger:    slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level})),
		Topic:     func(k pipeline.Kind) string { return "evershop." + string(k) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

func postOrder(s *Server, body string, signed bool) int {
	req := httptest.NewRequest(http.MethodPost, "/api/webhooks/evershop/order", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if signed {
		req.Header.Set("x-evershop-signature", sign(body))
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec.Code
}

func TestRequestLogLevels(t *testing.T) {
	body := fixture(t, "order.updated.seed.json")
	t.Run("info: no per-request lines, counters still count", func(t *testing.T) {
		var buf syncBuffer
		s, _ := logServer(t, &published{}, slog.LevelInfo, &buf)
		postOrder(s, body, true)
		postOrder(s, body, false)
		if l := buf.lines(t); len(l) != 0 {
			t.Fatalf("per-request lines at info: %v", l)
		}
		if got := testutil.ToFloat64(s.metrics.received.WithLabelValues("order", outcomeAccepted)); got != 1 {
			t.Fatalf("accepted = %v", got)
		}
		if got := testutil.ToFloat64(s.metrics.received.WithLabelValues("order", outcomeUnauthorized)); got != 1 {
			t.Fatalf("unauthorized = %v", got)
		}
	})
	t.Run("debug: one line per request with the event or the refusal", func(t *testing.T) {
		var buf syncBuffer
		s, _ := logServer(t, &published{}, slog.LevelDebug, &buf)
		postOrder(s, body, true)
		postOrder(s, body, false)
		l := buf.lines(t)
		if len(l) != 2 {
			t.Fatalf("lines = %v", l)
		}
		if l[0]["msg"] != "webhook received" || l[0]["level"] != "DEBUG" || l[0]["event_id"] != pipeline.BodyEventID([]byte(body)) || l[0]["outcome"] != outcomeAccepted {
			t.Errorf("accepted line = %v", l[0])
		}
		if l[1]["msg"] != "webhook refused" || l[1]["status"] != float64(401) || l[1]["outcome"] != outcomeUnauthorized {
			t.Errorf("refused line = %v", l[1])
		}
	})
	t.Run("unavailable is a warning with its cause", func(t *testing.T) {
		var buf syncBuffer
		s, _ := logServer(t, &published{fail: errors.New("broker down")}, slog.LevelInfo, &buf)
		if code := postOrder(s, body, true); code != http.StatusServiceUnavailable {
			t.Fatalf("status %d", code)
		}
		l := buf.lines(t)
		if len(l) != 1 || l[0]["level"] != "WARN" || !strings.Contains(l[0]["cause"].(string), "broker down") {
			t.Fatalf("lines = %v", l)
		}
	})
}

// TestSummaryEveryInterval runs the summary under synctest's fake clock: a
// line every interval with accepted and refused by reason, nothing for a
// quiet interval, and the remainder when the server stops.
func TestSummaryEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuffer
		sum := NewSummary(30*time.Second, slog.New(slog.NewJSONHandler(&buf, nil)))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); _ = sum.Run(ctx) }()

		for range 3 {
			sum.Observe(outcomeAccepted)
		}
		sum.Observe(outcomeUnauthorized)
		sum.Observe(outcomeInvalid)
		sum.Observe(outcomeInvalid)
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if l := buf.lines(t); len(l) != 0 {
			t.Fatalf("summary before the interval: %v", l)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		l := buf.lines(t)
		if len(l) != 1 {
			t.Fatalf("lines after 30 s = %v", l)
		}
		want := map[string]any{"msg": "webhooks", "level": "INFO", "accepted": float64(3), "refused": float64(3),
			"refused_unauthorized": float64(1), "refused_invalid": float64(2)}
		for k, v := range want {
			if l[0][k] != v {
				t.Errorf("%s = %v, want %v (line %v)", k, l[0][k], v, l[0])
			}
		}

		time.Sleep(30 * time.Second) // a quiet interval
		synctest.Wait()
		if l := buf.lines(t); len(l) != 1 {
			t.Fatalf("a quiet interval logged: %v", l[1:])
		}

		sum.Observe(outcomeAccepted)
		cancel()
		<-done
		l = buf.lines(t)
		if len(l) != 2 || l[1]["accepted"] != float64(1) || l[1]["refused"] != float64(0) {
			t.Fatalf("final summary = %v", l)
		}
	})
}

// TestServerFeedsSummary checks the middleware wiring: what the handler
// decided reaches the summary.
func TestServerFeedsSummary(t *testing.T) {
	var buf syncBuffer
	s, _ := logServer(t, &published{}, slog.LevelInfo, &buf)
	body := fixture(t, "order.updated.seed.json")
	postOrder(s, body, true)
	postOrder(s, body, false)
	s.summary.flush(context.Background())
	l := buf.lines(t)
	if len(l) != 1 || l[0]["accepted"] != float64(1) || l[0]["refused_unauthorized"] != float64(1) {
		t.Fatalf("summary = %v", l)
	}
}
