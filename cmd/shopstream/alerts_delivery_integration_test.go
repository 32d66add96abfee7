package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/shopstream/shopstream/connectors/inbox/inboxtest"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/replay"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// flakyHook is an alert webhook receiver that answers each post by a rule
// on the alert's product and the attempt number of its webhook-id, and
// counts attempts and accepted posts per webhook-id.
type flakyHook struct {
	mu       sync.Mutex
	status   func(productID string, attempt int) int
	attempts map[string]int
	accepted map[string]int
	product  map[string]string // webhook-id -> product id
}

func startFlakyHook(t *testing.T, status func(productID string, attempt int) int) (*flakyHook, string) {
	t.Helper()
	h := &flakyHook{status: status, attempts: map[string]int{}, accepted: map[string]int{}, product: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p struct {
			Alert pipeline.Alert `json:"alert"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("alert webhook body: %v", err)
		}
		id := r.Header.Get("webhook-id")
		if id == "" || id != p.Alert.ID {
			t.Errorf("webhook-id %q, alert id %q: want the alert id", id, p.Alert.ID)
		}
		h.mu.Lock()
		h.attempts[id]++
		h.product[id] = p.Alert.ProductID
		code := h.status(p.Alert.ProductID, h.attempts[id])
		if code < 300 {
			h.accepted[id]++
		}
		h.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL
}

// idOf returns the webhook-id of product's alert and its attempts and
// accepted posts ("" when none arrived yet).
func (h *flakyHook) idOf(product string) (id string, attempts, accepted int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, p := range h.product {
		if p == product {
			return k, h.attempts[k], h.accepted[k]
		}
	}
	return "", 0, 0
}

func (h *flakyHook) setStatus(f func(productID string, attempt int) int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status = f
}

// TestIntegrationAlertDeliveryThroughTheTiers, on the real broker: the
// webhook fails product 1's alert three times (503) and then takes it:
// the delivery climbs the retry tiers and is accepted exactly once, with
// three "retrying" outcome rows and one "completed", while the staff
// inbox (which never failed) got it once and was not posted again. The
// webhook refuses product 2's alert for good (410): the delivery is
// dead-lettered at once; once the receiver is fixed, `shopstream replay`
// of that dead letter delivers it exactly once.
func TestIntegrationAlertDeliveryThroughTheTiers(t *testing.T) {
	inbox := inboxtest.Start(t, inboxToken)
	hook, hookURL := startFlakyHook(t, func(product string, attempt int) int {
		switch {
		case product == "1" && attempt <= 3:
			return http.StatusServiceUnavailable
		case product == "2":
			return http.StatusGone
		}
		return http.StatusOK
	})
	cfg := testConfig(t, append(inboxEnv(inbox), "WEBHOOK_AUTO_SYNC_PRODUCTS=false", "WEBHOOK_INVENTORY_ALERTS=true",
		"SHOPSTREAM_ALERT_STAFF_EMAIL=staff@example.com", "SHOPSTREAM_ALERT_WEBHOOK_URL="+hookURL,
		"SHOPSTREAM_ALERT_DIGEST_QUIET=200ms", "SHOPSTREAM_ALERT_DIGEST_MAX_WAIT=2s")...)
	resetKafka(t, cfg)
	events := tailTopic(t, cfg, schemas.TopicEvents)
	startServe(t, cfg)
	startProcess(t, cfg, newRegistry())
	waitGroupMembers(t, cfg, schemas.GroupProcessor, 1, 30*time.Second)

	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	post := func(id, qty int, at time.Time) {
		t.Helper()
		if status := postWebhook(t, cfg, "product", stockBody(id, qty, "10.00", at)); status != http.StatusOK {
			t.Fatalf("post product %d: %d", id, status)
		}
	}
	post(1, 10, t0)
	post(1, 0, t0.Add(time.Minute))
	outs := events.WaitOutcomes(t, 60*time.Second, "product 1's webhook delivery completed", func(o []pipeline.Outcome) bool {
		id, _, _ := hook.idOf("1")
		return id != "" && countOutcomes(o, pipeline.StatusCompleted, id+"@webhook") == 1
	})
	id1, attempts, accepted := hook.idOf("1")
	if attempts != 4 || accepted != 1 {
		t.Fatalf("product 1: %d attempts, %d accepted; want 4 and 1", attempts, accepted)
	}
	if n := countOutcomes(outs, pipeline.StatusRetrying, id1+"@webhook"); n != 3 {
		t.Errorf("product 1: %d retrying rows, want 3", n)
	}
	if n := countOutcomes(outs, pipeline.StatusCompleted, id1+"@inbox"); n != 1 {
		t.Errorf("product 1: %d completed inbox rows, want 1", n)
	}

	post(2, 10, t0)
	post(2, 0, t0.Add(time.Minute))
	dead := readAll(t, cfg, schemas.TopicDLQ, 1, 60*time.Second)[0]
	id2, _, _ := hook.idOf("2")
	m, err := pipeline.ParseAlertDelivery(dead.Value)
	if err != nil || m.Alert == nil || m.Alert.ID != id2 || m.Channel != pipeline.ChannelWebhook ||
		kafka.Header(dead, schemas.HeaderOriginalTopic) != schemas.TopicAlerts {
		t.Fatalf("dead letter %+v (%v), headers %v", m, err, dead.Headers)
	}
	events.WaitOutcomes(t, 30*time.Second, "product 2's dead outcome", func(o []pipeline.Outcome) bool {
		return countOutcomes(o, pipeline.StatusDead, id2+"@webhook") == 1
	})

	// Fixed; the operator replays that dead letter.
	hook.setStatus(func(string, int) int { return http.StatusOK })
	filter, err := pipeline.ParseReplayFilter(pipeline.AlertDeliveryType, id2+"@webhook", "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	prog, err := replay.Replay(t.Context(), kafkaConfig(cfg), replay.Config{Group: schemas.GroupReplay, Filter: filter}, testLogger(t))
	if err != nil || prog.Replayed != 1 {
		t.Fatalf("replay: %+v, %v", prog, err)
	}
	events.WaitOutcomes(t, 60*time.Second, "product 2's replayed delivery completed", func(o []pipeline.Outcome) bool {
		return countOutcomes(o, pipeline.StatusCompleted, id2+"@webhook") == 1
	})
	waitUntil(t, 30*time.Second, "alerts group caught up", func() bool {
		return groupLag(t, cfg, schemas.GroupAlerts, schemas.TopicAlerts) == 0
	})
	if _, _, accepted := hook.idOf("2"); accepted != 1 {
		t.Errorf("product 2: accepted %d times, want 1", accepted)
	}
	if _, _, accepted := hook.idOf("1"); accepted != 1 {
		t.Errorf("product 1: accepted %d times after all, want 1", accepted)
	}
	staff := inbox.Messages("staff@example.com")
	keys := map[string]int{}
	for _, msg := range staff {
		keys[msg.IdempotencyKey]++
	}
	if len(staff) != 2 || keys[id1] != 1 || keys[id2] != 1 {
		t.Errorf("staff inbox: %d messages %v, want one each for %s and %s", len(staff), keys, id1, id2)
	}
}
