package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type fakeAlertSender struct {
	mu   sync.Mutex
	fail error
	sent []Alert
}

func (f *fakeAlertSender) SendAlert(_ context.Context, a Alert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.sent = append(f.sent, a)
	return nil
}

func (f *fakeAlertSender) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, a := range f.sent {
		ids = append(ids, string(a.Trigger)+":"+a.ID)
	}
	return ids
}

func alertProcessor(t *testing.T, autoSync bool) (*Processor, *fakeAlertSender, *fakeForwarder, *outcomes) {
	t.Helper()
	fwd, rec, sender := &fakeForwarder{}, &outcomes{}, &fakeAlertSender{}
	p, err := NewProcessor(ProcessorConfig{AutoSyncCatalog: autoSync, Retry: RetryPolicy{Tiers: []time.Duration{time.Second}}}, ProcessorDeps{
		Notifier: &fakeInbox{}, Catalog: fwd, Forwarder: fwd, Recorder: rec,
		Alerts: NewAlertEngine(testRules(), NewMemoryAlertStore()), AlertSender: sender,
		Now: func() time.Time { return alertT0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, sender, fwd, rec
}

func productDelivery(ev Event, attempt int) Delivery {
	return Delivery{Event: ev, Attempt: attempt, Topic: "evershop.product"}
}

func TestProcessorSendsStoreAlertsOnce(t *testing.T) {
	p, sender, fwd, rec := alertProcessor(t, true)
	ctx := t.Context()
	for _, ev := range []Event{productEv("a", 0, qty(3)), productEv("b", 1, qty(0)), productEv("c", 2, qty(0))} {
		if err := p.Handle(ctx, productDelivery(ev, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if got := sender.ids(); len(got) != 1 || !strings.HasPrefix(got[0], "out_of_stock:") {
		t.Fatalf("alerts sent: %v", got)
	}
	if len(fwd.marked) != 3 {
		t.Errorf("catalog marks: %d, want 3 (alerts come on top of the catalog)", len(fwd.marked))
	}
	var rows []Outcome
	for _, o := range rec.all() {
		if o.EventType == AlertEventType(AlertOutOfStock) {
			rows = append(rows, o)
		}
	}
	if len(rows) != 1 || rows[0].Status != StatusCompleted || rows[0].AlertOld != "3" || rows[0].AlertNew != "0" || rows[0].EntityID != "7" || rows[0].AlertTrigger != "out_of_stock" {
		t.Fatalf("alert outcome rows: %+v", rows)
	}
}

func TestProcessorAlertFailureRetriesTheSameAlert(t *testing.T) {
	p, sender, fwd, _ := alertProcessor(t, false)
	ctx := t.Context()
	if err := p.Handle(ctx, productDelivery(productEv("a", 0, qty(3)), 1)); err != nil {
		t.Fatal(err)
	}
	sender.fail = Retryable(errors.New("alerts topic unreachable"), 0)
	// A transient failure is the runtime's to retry in place: the event is
	// not forwarded to a tier, where a newer event of the product could
	// overtake it and its alert (already in the saved state) be lost.
	if err := p.Handle(ctx, productDelivery(productEv("b", 1, qty(0)), 1)); err == nil || IsPermanent(err) {
		t.Fatalf("Handle = %v, want the retryable error back", err)
	}
	if len(fwd.retried) != 0 || len(sender.ids()) != 0 {
		t.Fatalf("retried %d, sent %v", len(fwd.retried), sender.ids())
	}
	// The runtime's retry of the same record sends the alert the state
	// recorded, same id.
	sender.fail = nil
	if err := p.Handle(ctx, productDelivery(productEv("b", 1, qty(0)), 1)); err != nil {
		t.Fatal(err)
	}
	// A later, older replay from the DLQ fires nothing.
	if err := p.Handle(ctx, productDelivery(productEv("z", -5, qty(0)), 1)); err != nil {
		t.Fatal(err)
	}
	if got := sender.ids(); len(got) != 1 || got[0] != "out_of_stock:"+AlertID(AlertOutOfStock, "7", "b") {
		t.Fatalf("alerts sent: %v", got)
	}
}

func TestProcessorDeadLetterRaisesAnAlert(t *testing.T) {
	p, sender, fwd, _ := alertProcessor(t, true)
	d := Delivery{Attempt: 1, Topic: "evershop.order", Event: Event{ID: "e9", Type: OrderUpdated, Kind: KindOrder, EntityID: "42", Data: []byte(`{"order_id":42,`)}}
	if err := p.Handle(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	if len(fwd.dead) != 1 || len(sender.sent) != 1 {
		t.Fatalf("dead %d, alerts %v", len(fwd.dead), sender.sent)
	}
	a := sender.sent[0]
	text := AlertText(a, "")
	for _, want := range []string{"order.updated", "e9", "42", "1 attempt", "shopstream replay --event-id e9"} {
		if !strings.Contains(text, want) {
			t.Errorf("dead-letter alert %q lacks %q", text, want)
		}
	}
}

func TestAlertText(t *testing.T) {
	a := Alert{Trigger: AlertPriceChange, ProductID: "7", SKU: "MUG-1", Name: "Blue mug", Old: "20.00", New: "15.00"}
	got := AlertText(a, "https://shop.example.com/")
	want := "Price change: Blue mug (SKU MUG-1) — regular price 20.00 → 15.00 (-25.0%). https://shop.example.com/admin/products/edit/7"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	a = Alert{Trigger: AlertLowStock, ProductID: "7", Old: "6", New: "5"}
	if got := AlertText(a, ""); got != "Low stock: Product 7 — 5 left (was 6)." {
		t.Errorf("got %q", got)
	}
}

// TestProcessorHeldTooLongRaisesOneAlert: an event held through a 10-minute
// inbox outage raises one needs-a-person alert once held for the configured
// 2 minutes, and is delivered when the inbox is back.
func TestProcessorHeldTooLongRaisesOneAlert(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		inbox := &fakeInbox{fail: func(Notification) error {
			if time.Since(start) < 10*time.Minute {
				return Retryable(errors.New("inbox: 503"), 0)
			}
			return nil
		}}
		fwd, rec, sender := &fakeForwarder{}, &outcomes{}, &fakeAlertSender{}
		p, err := NewProcessor(ProcessorConfig{HoldAlertAfter: 2 * time.Minute}, ProcessorDeps{
			Notifier: inbox, Catalog: fwd, Forwarder: fwd, Recorder: rec, AlertSender: sender})
		if err != nil {
			t.Fatal(err)
		}
		// Other orders fail first; the one that opens the breaker is held.
		for i := range DefaultBreakerFailureThreshold - 1 {
			if err := p.Handle(t.Context(), orderUpdate(fmt.Sprintf("o%d", i), fmt.Sprint(100+i), "shipped", "pending", t0)); err != nil {
				t.Fatal(err)
			}
		}
		d := orderUpdate("held", "7", "shipped", "pending", t0)
		d.Event.ReceivedAt = time.Now()
		if err := p.Handle(t.Context(), d); err != nil {
			t.Fatal(err)
		}
		if len(sender.sent) != 1 || sender.sent[0].Trigger != AlertHeldTooLong || sender.sent[0].EventID != "held" {
			t.Fatalf("alerts: %+v", sender.sent)
		}
		if !strings.Contains(AlertText(sender.sent[0], ""), "has been held for") {
			t.Errorf("text: %q", AlertText(sender.sent[0], ""))
		}
		if n := len(inbox.sent); n != 1 || inbox.sent[0].EventID != "held" {
			t.Fatalf("inbox got %d messages", n)
		}
	})
}

// A redelivered dead letter keeps its alert id (the channels drop the copy);
// a replayed event that dies again is a new alert.
func TestDeadLetterAlertIDPerRetryBudget(t *testing.T) {
	received := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	d := Delivery{Attempt: 4, Event: Event{ID: "e1", Type: OrderUpdated, EntityID: "42", ReceivedAt: received}}
	cause := errors.New("inbox: HTTP 400")
	first := DeadLetterAlert(d, cause, received.Add(time.Minute))
	if again := DeadLetterAlert(d, cause, received.Add(2*time.Minute)); again.ID != first.ID {
		t.Errorf("redelivery: id %s, want %s", again.ID, first.ID)
	}
	replayed := d
	replayed.RetrySince = received.Add(time.Hour) // shopstream replay starts a new budget
	if second := DeadLetterAlert(replayed, cause, received.Add(2*time.Hour)); second.ID == first.ID {
		t.Errorf("a replayed event's second death reuses the alert id %s", first.ID)
	}
}
