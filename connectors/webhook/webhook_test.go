package webhook

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

type headerGetter http.Header

func (h headerGetter) Get(k string) string { return http.Header(h).Get(k) }

// TestSendAlertIsSignedAndClassified: the receiver verifies the post with
// the same Standard Webhooks verifier the ingress uses; the webhook-id is
// the alert id on every retry; 503 is retryable, 400 permanent.
func TestSendAlertIsSignedAndClassified(t *testing.T) {
	secrets, err := pipeline.ParseSecrets("whsec_c2hvcHN0cmVhbS1hbGVydHMtdGVzdA==")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	status := http.StatusOK
	var got []Payload
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := pipeline.NewVerifier(secrets, 5*time.Minute).Verify(headerGetter(r.Header), body, now); err != nil {
			t.Errorf("signature: %v", err)
		}
		var p Payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("body: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		got, ids = append(got, p), append(ids, r.Header.Get("webhook-id"))
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{URL: srv.URL, Secret: &secrets[0], StoreURL: "https://shop.example.com", Now: func() time.Time { return now }}, srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := pipeline.Alert{ID: pipeline.AlertID(pipeline.AlertOutOfStock, "7", "evt"), Trigger: pipeline.AlertOutOfStock, ProductID: "7", SKU: "MUG-1", Name: "Blue mug", Old: "3", New: "0"}
	status = http.StatusServiceUnavailable
	if err := c.SendAlert(t.Context(), a); err == nil || pipeline.IsPermanent(err) {
		t.Fatalf("503: %v, want retryable", err)
	}
	status = http.StatusOK
	if err := c.SendAlert(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	status = http.StatusBadRequest
	if err := c.SendAlert(t.Context(), a); !pipeline.IsPermanent(err) {
		t.Fatalf("400: %v, want permanent", err)
	}
	if len(ids) != 3 || ids[0] != a.ID || ids[1] != a.ID {
		t.Fatalf("webhook-ids %v, want the alert id each time", ids)
	}
	p := got[1]
	if p.Type != "alert.out_of_stock" || p.Alert.Old != "3" || p.Alert.New != "0" || p.Link != "https://shop.example.com/admin/products/edit/7" ||
		!strings.Contains(p.Text, "Blue mug (SKU MUG-1)") {
		t.Fatalf("payload %+v", p)
	}
}
