package ingress

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopstream/shopstream/pipeline"
)

type discardPublisher struct{}

func (discardPublisher) Publish(context.Context, string, pipeline.Event, string) (pipeline.Origin, error) {
	return pipeline.Origin{}, nil
}

// BenchmarkWebhook is the handler's own cost per accepted webhook: the
// middlewares, the signature, the envelope and the 200, with a publisher
// that does nothing and the production log level (info, JSON, discarded).
// go test -run '^$' -bench Webhook -benchmem ./connectors/ingress/
func BenchmarkWebhook(b *testing.B) {
	secrets, _ := pipeline.ParseSecrets(secret)
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := New(DefaultConfig(), Deps{
		Verifier:  pipeline.NewVerifier(secrets, 0),
		Publisher: discardPublisher{},
		Logger:    log,
		Registry:  prometheus.NewRegistry(),
		Topic:     func(k pipeline.Kind) string { return "evershop." + string(k) },
	})
	if err != nil {
		b.Fatal(err)
	}
	body, err := os.ReadFile("../../testdata/webhooks/order.updated.evershop-row.json")
	if err != nil {
		b.Fatal(err)
	}
	sig := pipeline.SignEverShop(secrets[0], body)
	h := s.Handler()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/api/webhooks/evershop/order", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(pipeline.HeaderEverShopSignature, sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
