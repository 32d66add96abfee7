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
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	ev := pub.got[0]
	if ev.ID != pipeline.BodyEventID([]byte(body)) || ev.Type != "order.updated" || ev.EntityID != "456" || ev.Kind != pipeline.KindOrder || string(ev.Body) != body {
		t.Fatalf("event = %+v", ev)
	}
	if got := testutil.ToFloat64(s.metrics.received.WithLabelValues("order", "accepted")); got != 1 {
		t.Fatalf("accepted counter = %v", got)
	}
	if n, _ := testutil.GatherAndCount(reg, "shopstream_ingress_request_duration_seconds"); n == 0 {
		t.Fatal("no latency series")
	}
}

// TestEventIDFromSignedBytesOnly replays a captured x-evershop-signature
// request with a fresh x-evershop-webhook-id and then with an added
// webhook-id: each replay is answered 200 (it may be published again) and
// carries the same event id, so the processor's dedupe by id drops it.
func TestEventIDFromSignedBytesOnly(t *testing.T) {
	plain := fixture(t, "order.created.evershop-row.json")
	withID := `{"event":"order.created","timestamp":"2026-11-21T15:02:11Z","webhook_id":"0f8e-outbox-uuid","data":{"order_id":1001,"customer_email":"ana@example.com"}}`
	cases := []struct {
		name, body, want string
	}{
		{"no id in the body: sha256 of the body", plain, pipeline.BodyEventID([]byte(plain))},
		{"id in the signed body", withID, "0f8e-outbox-uuid"},
	}
	replays := []map[string]string{
		nil,
		{"x-evershop-webhook-id": "fresh-1"},
		{"x-evershop-webhook-id": "fresh-2"},
		{"x-evershop-webhook-id": "fresh-3", "webhook-id": "msg_added"},
		{"webhook-id": "msg_only"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pub := &published{}
			s, _ := newTestServer(t, pub, false)
			sig := sign(c.body) // captured once
			for i, h := range replays {
				req := httptest.NewRequest(http.MethodPost, "/api/webhooks/evershop/order", strings.NewReader(c.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("x-evershop-signature", sig)
				for k, v := range h {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				s.Handler().ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					t.Fatalf("replay %d (%v): status %d %s", i, h, rec.Code, rec.Body)
				}
			}
			if len(pub.got) != len(replays) {
				t.Fatalf("published %d, want %d", len(pub.got), len(replays))
			}
			for i, ev := range pub.got {
				if ev.ID != c.want {
					t.Errorf("replay %d (%v): event id %q, want %q", i, replays[i], ev.ID, c.want)
				}
			}
		})
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
	ready := errors.New("topics missing: evershop.order")
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

// TestAcceptReturnsOneErrorType: every refusal is a *RequestError carrying
// its status, reason and a message for the sender; the cause stays for logs.
func TestAcceptReturnsOneErrorType(t *testing.T) {
	body := fixture(t, "order.updated.seed.json")
	cases := []struct {
		name   string
		pub    *published
		sig    string
		status int
		reason string
	}{
		{"unsigned", &published{}, "", http.StatusUnauthorized, outcomeUnauthorized},
		{"store down", &published{fail: errors.New("broker down")}, sign(body), http.StatusServiceUnavailable, outcomeUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newTestServer(t, c.pub, false)
			req := httptest.NewRequest(http.MethodPost, "/api/webhooks/evershop/order", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if c.sig != "" {
				req.Header.Set("x-evershop-signature", c.sig)
			}
			_, err := s.accept(httptest.NewRecorder(), req, pipeline.KindOrder)
			var re *RequestError
			if !errors.As(err, &re) || re.Status != c.status || re.Reason != c.reason || re.Msg == "" {
				t.Fatalf("err = %#v, want *RequestError %d %s", err, c.status, c.reason)
			}
			if c.pub.fail != nil && !errors.Is(err, c.pub.fail) {
				t.Fatalf("the publish error is not the cause: %v", err)
			}
		})
	}
	s, _ := newTestServer(t, &published{}, false)
	req := httptest.NewRequest(http.MethodPost, "/api/webhooks/evershop/order", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-evershop-signature", sign(body))
	acc, err := s.accept(httptest.NewRecorder(), req, pipeline.KindOrder)
	if err != nil || acc.Event.EntityID != "456" || acc.At.Topic != "evershop.order" {
		t.Fatalf("accepted = %+v, %v", acc, err)
	}
}
