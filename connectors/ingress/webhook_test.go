package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shopstream/shopstream/pipeline"
)

// published is a slice-backed Publisher.
type published struct {
	mu   sync.Mutex
	fail error
	got  []pipeline.Event
}

func (p *published) Publish(_ context.Context, topic string, ev pipeline.Event, _ string) (pipeline.Origin, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return pipeline.Origin{}, p.fail
	}
	p.got = append(p.got, ev)
	return pipeline.Origin{Topic: topic, Offset: int64(len(p.got) - 1)}, nil
}

const secret = "test-secret"

func newTestServer(t *testing.T, pub Publisher, dev bool) (*Server, *prometheus.Registry) {
	t.Helper()
	secrets, _ := pipeline.ParseSecrets(secret)
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 4096
	cfg.Development = dev
	s, err := New(cfg, Deps{
		Verifier:  pipeline.NewVerifier(secrets, 0),
		Publisher: pub,
		Registry:  reg,
		Topic:     func(k pipeline.Kind) string { return "evershop." + string(k) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

func sign(body string) string {
	secrets, _ := pipeline.ParseSecrets(secret)
	return pipeline.SignEverShop(secrets[0], []byte(body))
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../testdata/webhooks/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWebhookResponses(t *testing.T) {
	order := fixture(t, "order.updated.evershop-row.json")
	product := fixture(t, "product.created.seed.json")
	cases := []struct {
		name        string
		path        string
		contentType string
		body        string
		sig         string
		status      int
		published   int
	}{
		{"order row accepted", "/api/webhooks/evershop/order", "application/json", order, sign(order), 200, 1},
		{"charset is fine", "/api/webhooks/evershop/product", "application/json; charset=utf-8", product, sign(product), 200, 1},
		{"unsigned", "/api/webhooks/evershop/order", "application/json", order, "", 401, 0},
		{"wrong signature", "/api/webhooks/evershop/order", "application/json", order, sign(order + " "), 401, 0},
		{"not json media type", "/api/webhooks/evershop/order", "text/plain", order, sign(order), 415, 0},
		{"no media type", "/api/webhooks/evershop/order", "", order, sign(order), 415, 0},
		{"too large", "/api/webhooks/evershop/order", "application/json", strings.Repeat(" ", 5000), sign(strings.Repeat(" ", 5000)), 413, 0},
		{"malformed json", "/api/webhooks/evershop/order", "application/json", `{"event":`, sign(`{"event":`), 400, 0},
		{"wrong endpoint", "/api/webhooks/evershop/customer", "application/json", order, sign(order), 422, 0},
		{"unknown path", "/api/webhooks/evershop/refund", "application/json", order, sign(order), 404, 0},
		{"test endpoint off in production", "/api/webhooks/test", "application/json", order, "", 404, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pub := &published{}
			s, _ := newTestServer(t, pub, false)
			req := httptest.NewRequest(http.MethodPost, c.path, strings.NewReader(c.body))
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			if c.sig != "" {
				req.Header.Set("x-evershop-signature", c.sig)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != c.status {
				t.Fatalf("status = %d, want %d: %s", rec.Code, c.status, rec.Body)
			}
			var resp struct {
				Code int    `json:"code"`
				Msg  string `json:"msg"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.Msg == "" {
				t.Fatalf("body is not {code,msg}: %q", rec.Body)
			}
			if (c.status == 200) != (resp.Code == 0) {
				t.Fatalf("code = %d for status %d", resp.Code, c.status)
			}
			if len(pub.got) != c.published {
				t.Fatalf("published %d, want %d", len(pub.got), c.published)
			}
		})
	}
}

func TestWebhookEventFields(t *testing.T) {
	pub := &published{}
	s, reg := newTestServer(t, pub, false)
	body := fixture(t, "order.updated.seed.json")
	req := httptest.NewRequest(http.MethodPost, "/api/webhooks/evershop/order", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-evershop-signature", "sha256="+strings.ToUpper(sign(body)))
	req.Header.Set("x-evershop-webhook-id", "evt-1")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	ev := pub.got[0]
	if ev.ID != "evt-1" || ev.Type != "order.updated" || ev.EntityID != "456" || ev.Kind != pipeline.KindOrder || string(ev.Body) != body {
		t.Fatalf("event = %+v", ev)
	}
	if got := testutil.ToFloat64(s.metrics.received.WithLabelValues("order", "accepted")); got != 1 {
		t.Fatalf("accepted counter = %v", got)
	}
	if n, _ := testutil.GatherAndCount(reg, "shopstream_ingress_request_duration_seconds"); n == 0 {
		t.Fatal("no latency series")
	}
}

func TestWebhookUnavailable(t *testing.T) {
	pub := &published{fail: errors.New("broker down")}
	s, _ := newTestServer(t, pub, false)
	body := fixture(t, "customer.created.seed.json")
	req := httptest.NewRequest(http.MethodPost, "/api/webhooks/evershop/customer", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-evershop-signature", sign(body))
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "5" {
		t.Fatalf("status %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestDevelopmentTestEndpoint(t *testing.T) {
	pub := &published{}
	s, _ := newTestServer(t, pub, true)
	body := fixture(t, "product.deleted.seed.json")
	req := httptest.NewRequest(http.MethodPost, "/api/webhooks/test", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 || len(pub.got) != 1 || pub.got[0].Kind != pipeline.KindProduct {
		t.Fatalf("status %d, published %+v", rec.Code, pub.got)
	}
}

func TestAdminReadiness(t *testing.T) {
	var ready error = errors.New("topics missing: evershop.order")
	a := NewAdmin(":0", prometheus.NewRegistry(), func(context.Context) error { return ready }, nil)
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	if rec := get("/healthz"); rec.Code != 200 {
		t.Fatalf("healthz %d", rec.Code)
	}
	if rec := get("/readyz"); rec.Code != 503 || !strings.Contains(rec.Body.String(), "evershop.order") {
		t.Fatalf("readyz %d %s", rec.Code, rec.Body)
	}
	if rec := get("/metrics"); rec.Code != 200 {
		t.Fatalf("metrics %d", rec.Code)
	}
}
