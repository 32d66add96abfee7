package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/inbox/inboxtest"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// alertHook is an outgoing-webhook receiver that verifies every post and
// counts them per webhook-id.
type alertHook struct {
	mu      sync.Mutex
	posts   map[string]int
	alerts  map[string]pipeline.Alert // from single posts and digests' CSV
	singles int
	digests int
}

func startAlertHook(t *testing.T, secret string) (*alertHook, string) {
	t.Helper()
	secrets, err := pipeline.ParseSecrets(secret)
	if err != nil {
		t.Fatal(err)
	}
	h := &alertHook{posts: map[string]int{}, alerts: map[string]pipeline.Alert{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := pipeline.NewVerifier(secrets, 5*time.Minute).Verify(r.Header, body, time.Now()); err != nil {
			t.Errorf("alert webhook signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p struct {
			Type   string               `json:"type"`
			Alert  pipeline.Alert       `json:"alert"`
			Digest pipeline.AlertDigest `json:"digest"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("alert webhook body: %v", err)
		}
		var got []pipeline.Alert
		if p.Type == "alert.digest" {
			rows, err := csv.NewReader(strings.NewReader(p.Digest.CSV)).ReadAll()
			if err != nil || len(rows) != p.Digest.Total+1 {
				t.Errorf("digest CSV: %d rows, %v (total %d)", len(rows), err, p.Digest.Total)
			}
			for _, row := range rows[1:] {
				got = append(got, pipeline.Alert{ID: row[0], Trigger: pipeline.AlertTrigger(row[1]), ProductID: row[2]})
			}
		} else {
			got = append(got, p.Alert)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.posts[r.Header.Get("webhook-id")]++; h.posts[r.Header.Get("webhook-id")] == 1 {
			if p.Type == "alert.digest" {
				h.digests++
			} else {
				h.singles++
			}
		}
		for _, a := range got {
			h.alerts[a.ID] = a
		}
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL
}

// byTrigger counts distinct alerts per trigger and per product+trigger.
func (h *alertHook) byTrigger() (map[pipeline.AlertTrigger]int, map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	per, perProduct := map[pipeline.AlertTrigger]int{}, map[string]int{}
	for _, a := range h.alerts {
		per[a.Trigger]++
		perProduct[a.ProductID+"/"+string(a.Trigger)]++
	}
	return per, perProduct
}

func stockBody(id, qty int, price string, updatedAt time.Time) []byte {
	return mustJSON(map[string]any{"event": pipeline.ProductUpdated, "timestamp": updatedAt.UTC().Format(time.RFC3339Nano),
		"data": map[string]any{"id": id, "sku": fmt.Sprintf("SKU-%d", id), "name": fmt.Sprintf("Product %d", id), "price": price,
			"qty": qty, "updated_at": updatedAt.UTC().Format(time.RFC3339)}})
}

// TestIntegrationStoreAlertsTwoProcessors runs serve and two processors on
// the real broker with inventory and price alerts on: every product's
// crossing is alerted exactly once (distinct alert ids, one per product and
// trigger) to the signed webhook and the staff inbox, across a rebalance
// (one processor stops mid-way) and a restart (a fresh processor loads the
// alert state), while replays of the same events and older events fire
// nothing. Bursts arrive as digests (full list in their CSV); a lone
// crossing afterwards arrives as a single alert.
func TestIntegrationStoreAlertsTwoProcessors(t *testing.T) {
	inbox := inboxtest.Start(t, inboxToken)
	const secret = "whsec_c2hvcHN0cmVhbS1hbGVydHMtaW50ZWdyYXRpb24="
	hook, hookURL := startAlertHook(t, secret)
	cfg := testConfig(t, append(inboxEnv(inbox), "WEBHOOK_AUTO_SYNC_PRODUCTS=false",
		"WEBHOOK_INVENTORY_ALERTS=true", "WEBHOOK_PRICE_ALERTS=true", "SHOPSTREAM_ALERT_LOW_STOCK=3",
		"SHOPSTREAM_ALERT_STAFF_EMAIL=staff@example.com", "SHOPSTREAM_ALERT_WEBHOOK_URL="+hookURL,
		"SHOPSTREAM_ALERT_WEBHOOK_SECRET="+secret, "SHOPSTREAM_ALERT_DIGEST_QUIET=300ms", "SHOPSTREAM_ALERT_DIGEST_MAX_WAIT=3s")...)
	resetKafka(t, cfg)
	startServe(t, cfg)
	p1 := startProcess(t, cfg, newRegistry())
	p2 := startProcess(t, cfg, newRegistry())
	waitGroupMembers(t, cfg, schemas.GroupProcessor, 2, 30*time.Second)

	const products = 24
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	post := func(id, qty int, price string, at time.Time) {
		if status := postWebhook(t, cfg, "product", stockBody(id, qty, price, at)); status != http.StatusOK {
			t.Fatalf("post product %d: %d", id, status)
		}
	}
	wait := func(what string, want map[pipeline.AlertTrigger]int) {
		waitUntil(t, 60*time.Second, what, func() bool {
			got, _ := hook.byTrigger()
			return fmt.Sprint(got) == fmt.Sprint(want)
		}, func() string { got, _ := hook.byTrigger(); return fmt.Sprint(got) })
	}
	// Seed, then sell out and reprice every product.
	for id := 1; id <= products; id++ {
		post(id, 10, "20.00", t0)
	}
	for id := 1; id <= products; id++ {
		post(id, 0, "15.00", t0.Add(time.Minute))
	}
	wait("one out_of_stock and one price_change per product", map[pipeline.AlertTrigger]int{
		pipeline.AlertOutOfStock: products, pipeline.AlertPriceChange: products})

	// A rebalance: p1 leaves; the same events again (EverShop re-sending)
	// and older ones (a late retry) fire nothing on p2.
	if err := p1.Stop(); err != nil {
		t.Fatal(err)
	}
	waitGroupMembers(t, cfg, schemas.GroupProcessor, 1, 30*time.Second)
	for id := 1; id <= products; id++ {
		post(id, 0, "15.00", t0.Add(time.Minute))
		post(id, 50, "99.00", t0.Add(-time.Minute))
	}
	// Back in stock, on the survivor.
	for id := 1; id <= products; id++ {
		post(id, 2, "15.00", t0.Add(2*time.Minute))
	}
	wait("one back_in_stock per product after the rebalance", map[pipeline.AlertTrigger]int{
		pipeline.AlertOutOfStock: products, pipeline.AlertPriceChange: products, pipeline.AlertBackInStock: products})

	// A restart: a fresh processor loads the state; stock stays at 2 (no
	// crossing), then goes above the threshold and back to low.
	if err := p2.Stop(); err != nil {
		t.Fatal(err)
	}
	p3 := startProcess(t, cfg, newRegistry())
	waitGroupMembers(t, cfg, schemas.GroupProcessor, 1, 30*time.Second)
	for id := 1; id <= products; id++ {
		post(id, 1, "15.00", t0.Add(3*time.Minute))
		post(id, 8, "15.00", t0.Add(4*time.Minute))
		post(id, 3, "15.00", t0.Add(5*time.Minute))
	}
	wait("one low_stock per product after the restart", map[pipeline.AlertTrigger]int{
		pipeline.AlertOutOfStock: products, pipeline.AlertPriceChange: products, pipeline.AlertBackInStock: products,
		pipeline.AlertLowStock: products})
	// Everything posted is handled (group lag 0) before the final count.
	waitUntil(t, 60*time.Second, "processor lag 0", func() bool {
		return groupLag(t, cfg, schemas.GroupProcessor, schemas.TopicProduct) == 0
	})
	if err := p3.Stop(); err != nil {
		t.Fatal(err)
	}
	_, perProduct := hook.byTrigger()
	for k, n := range perProduct {
		if n != 1 {
			t.Errorf("%s: %d distinct alerts, want 1", k, n)
		}
	}
	if len(perProduct) != 4*products {
		t.Errorf("%d product/trigger pairs alerted, want %d", len(perProduct), 4*products)
	}
	// A lone crossing is sent by itself.
	p4 := startProcess(t, cfg, newRegistry())
	post(100, 4, "15.00", t0)
	post(100, 0, "15.00", t0.Add(time.Minute))
	waitUntil(t, 60*time.Second, "the lone out_of_stock alert", func() bool {
		hook.mu.Lock()
		defer hook.mu.Unlock()
		for _, a := range hook.alerts {
			if a.ProductID == "100" && a.Trigger == pipeline.AlertOutOfStock {
				return true
			}
		}
		return false
	})
	waitUntil(t, 60*time.Second, "processor lag 0", func() bool {
		return groupLag(t, cfg, schemas.GroupProcessor, schemas.TopicProduct) == 0
	})
	if err := p4.Stop(); err != nil {
		t.Fatal(err)
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if hook.digests == 0 || hook.singles == 0 {
		t.Errorf("%d digests and %d single alerts, want both", hook.digests, hook.singles)
	}
	if len(hook.alerts) != 4*products+1 {
		t.Errorf("%d distinct alerts, want %d", len(hook.alerts), 4*products+1)
	}
	// The staff inbox has one message per webhook message (same ids).
	staff := inbox.Messages("staff@example.com")
	keys := map[string]bool{}
	for _, m := range staff {
		keys[m.IdempotencyKey] = true
		if hook.posts[m.IdempotencyKey] == 0 {
			t.Errorf("inbox message %s has no webhook twin", m.IdempotencyKey)
		}
	}
	if len(staff) != len(keys) || len(keys) != len(hook.posts) {
		t.Errorf("staff inbox: %d messages, %d keys; webhook: %d ids", len(staff), len(keys), len(hook.posts))
	}
	repeats := 0
	for _, n := range hook.posts {
		repeats += n - 1
	}
	t.Logf("webhook: %d alerts in %d digests and %d single messages; %d repeated posts of an id", len(hook.alerts), hook.digests, hook.singles, repeats)
}
