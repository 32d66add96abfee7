package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type fakeInbox struct {
	mu      sync.Mutex
	fail    func(n Notification) error
	sent    []Notification
	attempt int
}

func (f *fakeInbox) Notify(_ context.Context, n Notification) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempt++
	if f.fail != nil {
		if err := f.fail(n); err != nil {
			return err
		}
	}
	f.sent = append(f.sent, n)
	return nil
}

type fakeForwarder struct {
	mu      sync.Mutex
	retried []RetryDecision
	dead    []Delivery
	marked  []Delivery
}

func (f *fakeForwarder) Retry(_ context.Context, _ Delivery, dec RetryDecision, _ error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retried = append(f.retried, dec)
	return nil
}

func (f *fakeForwarder) DeadLetter(_ context.Context, d Delivery, _ error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead = append(f.dead, d)
	return nil
}

func (f *fakeForwarder) MarkCatalog(_ context.Context, d Delivery) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.marked = append(f.marked, d)
	return nil
}

type outcomes struct {
	mu  sync.Mutex
	got []Outcome
}

func (o *outcomes) Record(out Outcome) { o.mu.Lock(); o.got = append(o.got, out); o.mu.Unlock() }

// statuses lists the outcomes of attempts, leaving out StatusReceived.
func (o *outcomes) statuses() []Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	var s []Status
	for _, out := range o.got {
		if out.Status != StatusReceived {
			s = append(s, out.Status)
		}
	}
	return s
}

func (o *outcomes) all() []Outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Outcome(nil), o.got...)
}

func newTestProcessor(t *testing.T, cfg ProcessorConfig, inbox *fakeInbox) (*Processor, *fakeForwarder, *outcomes) {
	t.Helper()
	fwd, rec := &fakeForwarder{}, &outcomes{}
	p, err := NewProcessor(cfg, ProcessorDeps{Notifier: inbox, Catalog: fwd, Forwarder: fwd, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	return p, fwd, rec
}

func orderUpdate(id, orderID, status, prev string, at time.Time) Delivery {
	data := fmt.Sprintf(`{"order_id":%s,"order_number":"100%s","customer_email":"ana@example.com","status":%q,"previous_status":%q,"updated_at":%q}`,
		orderID, orderID, status, prev, at.Format(time.RFC3339))
	return Delivery{Attempt: 1, Topic: "evershop.order", Event: Event{
		ID: id, Type: OrderUpdated, Kind: KindOrder, EntityID: orderID, Timestamp: at, Data: []byte(data)}}
}

var t0 = time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC)

func TestProcessorOrderUpdates(t *testing.T) {
	inbox := &fakeInbox{}
	p, _, rec := newTestProcessor(t, ProcessorConfig{}, inbox)
	ctx := t.Context()
	steps := []struct {
		name string
		d    Delivery
		want Status
	}{
		{"processing", orderUpdate("e1", "7", "processing", "new", t0), StatusCompleted},
		{"same event again", orderUpdate("e1", "7", "processing", "new", t0), StatusDuplicate},
		{"completed", orderUpdate("e2", "7", "completed", "processing", t0.Add(time.Hour)), StatusCompleted},
		{"stale processing arrives late", orderUpdate("e3", "7", "processing", "new", t0.Add(time.Minute)), StatusSuperseded},
		{"same status re-sent under a new id", orderUpdate("e4", "7", "completed", "processing", t0.Add(time.Hour)), StatusDuplicate},
		{"another order is independent", orderUpdate("e5", "8", "processing", "new", t0), StatusCompleted},
		{"no change", orderUpdate("e6", "8", "processing", "processing", t0.Add(time.Hour)), StatusSkipped},
	}
	for i, s := range steps {
		if err := p.Handle(ctx, s.d); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := rec.statuses()[i]; got != s.want {
			t.Fatalf("%s: outcome %s, want %s", s.name, got, s.want)
		}
	}
	if len(inbox.sent) != 3 {
		t.Fatalf("sent %d messages, want 3: %+v", len(inbox.sent), inbox.sent)
	}
	if inbox.sent[0].EventID != "e1" || inbox.sent[0].Email != "ana@example.com" {
		t.Fatalf("first message %+v", inbox.sent[0])
	}
}

func TestProcessorFailures(t *testing.T) {
	transient := Retryable(errors.New("inbox: 500"), 0)
	permanent := Permanentf("inbox: 400 bad request")
	cases := []struct {
		name    string
		err     error
		attempt int
		want    Status
		tier    int
	}{
		{"transient on first attempt climbs to tier 1", transient, 1, StatusRetrying, 0},
		{"transient on second attempt goes to tier 2", transient, 2, StatusRetrying, 1},
		{"transient after the last tier is dead", transient, 4, StatusDead, 0},
		{"permanent goes straight to the DLQ", permanent, 1, StatusDead, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inbox := &fakeInbox{fail: func(Notification) error { return c.err }}
			p, fwd, rec := newTestProcessor(t, ProcessorConfig{}, inbox)
			d := orderUpdate("e1", "7", "shipped", "pending", t0)
			d.Attempt = c.attempt
			if err := p.Handle(t.Context(), d); err != nil {
				t.Fatal(err)
			}
			if got := rec.statuses(); len(got) != 1 || got[0] != c.want {
				t.Fatalf("outcomes %v, want %s", got, c.want)
			}
			if c.want == StatusRetrying && (len(fwd.retried) != 1 || fwd.retried[0].Tier != c.tier) {
				t.Fatalf("retried %+v, want tier %d", fwd.retried, c.tier)
			}
			if c.want == StatusDead && len(fwd.dead) != 1 {
				t.Fatalf("dead %d", len(fwd.dead))
			}
		})
	}
}

func TestProcessorFlagsAndRouting(t *testing.T) {
	customer := Delivery{Attempt: 1, Event: Event{ID: "c1", Type: CustomerCreated, Data: []byte(`{"customer_id":7,"email":"ana@example.com","full_name":"Ana Lima"}`)}}
	created := Delivery{Attempt: 1, Event: Event{ID: "o1", Type: OrderCreated, Data: []byte(`{"order_id":1,"order_number":"1","customer_email":"ana@example.com","status":"new"}`)}}
	product := Delivery{Attempt: 1, Event: Event{ID: "p1", Type: ProductUpdated, Data: []byte(`{"product_id":42}`)}}
	bad := Delivery{Attempt: 1, Event: Event{ID: "b1", Type: OrderUpdated, Data: []byte(`{"status":"shipped"}`)}}
	cases := []struct {
		name    string
		cfg     ProcessorConfig
		d       Delivery
		want    Status // "" = handed to the catalog
		sent    int
		reasons string
	}{
		{"welcome off", ProcessorConfig{}, customer, StatusSkipped, 0, ""},
		{"welcome on", ProcessorConfig{SendWelcome: true}, customer, StatusCompleted, 1, "welcome"},
		{"confirmation off", ProcessorConfig{}, created, StatusSkipped, 0, ""},
		{"confirmation on", ProcessorConfig{SendOrderConfirmation: true}, created, StatusCompleted, 1, OrderCreated},
		{"catalog on", ProcessorConfig{AutoSyncCatalog: true}, product, "", 0, ""},
		{"catalog off", ProcessorConfig{}, product, StatusSkipped, 0, ""},
		{"order without id is dead", ProcessorConfig{}, bad, StatusDead, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inbox := &fakeInbox{}
			p, fwd, rec := newTestProcessor(t, c.cfg, inbox)
			if err := p.Handle(t.Context(), c.d); err != nil {
				t.Fatal(err)
			}
			got := rec.statuses()
			if c.want == "" {
				if len(got) != 0 || len(fwd.marked) != 1 {
					t.Fatalf("outcomes %v, marked %d", got, len(fwd.marked))
				}
				return
			}
			if len(got) != 1 || got[0] != c.want || len(inbox.sent) != c.sent {
				t.Fatalf("outcomes %v sent %d", got, len(inbox.sent))
			}
			if c.sent == 1 && inbox.sent[0].Reason != c.reasons {
				t.Fatalf("reason %q", inbox.sent[0].Reason)
			}
		})
	}
}

// TestProcessorOutageHoldsEvents: the inbox is down for everything for 60 s.
// A handful of events fail before the breaker opens and climb to tier 1;
// every other event is held and delivered after recovery. Nothing is
// dead-lettered.
func TestProcessorOutageHoldsEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		inbox := &fakeInbox{fail: func(Notification) error {
			if time.Since(start) < 60*time.Second {
				return Retryable(errors.New("inbox: 503"), 0)
			}
			return nil
		}}
		p, fwd, rec := newTestProcessor(t, ProcessorConfig{}, inbox)
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(i) * 100 * time.Millisecond)
				d := orderUpdate(fmt.Sprintf("e%d", i), fmt.Sprint(i), "shipped", "pending", t0)
				if err := p.Handle(t.Context(), d); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if len(fwd.dead) != 0 {
			t.Fatalf("%d events dead-lettered by an outage", len(fwd.dead))
		}
		completed := 0
		for _, s := range rec.statuses() {
			if s == StatusCompleted {
				completed++
			}
		}
		if completed+len(fwd.retried) != 50 || len(fwd.retried) > DefaultBreakerFailureThreshold {
			t.Fatalf("completed %d, retried %d", completed, len(fwd.retried))
		}
		if elapsed := time.Since(start); elapsed < 60*time.Second || elapsed > 95*time.Second {
			t.Fatalf("held events delivered after %s", elapsed)
		}
	})
}

// A dead-lettered event replayed after the cause was fixed is delivered: the
// DLQ is not a "seen" verdict.
func TestProcessorReplayAfterDeadLetter(t *testing.T) {
	broken := true
	inbox := &fakeInbox{fail: func(Notification) error {
		if broken {
			return Permanentf("inbox: 400")
		}
		return nil
	}}
	p, fwd, rec := newTestProcessor(t, ProcessorConfig{}, inbox)
	d := orderUpdate("e1", "7", "shipped", "pending", t0)
	if err := p.Handle(t.Context(), d); err != nil || len(fwd.dead) != 1 {
		t.Fatalf("err %v dead %d", err, len(fwd.dead))
	}
	broken = false
	if err := p.Handle(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	if got := rec.statuses(); len(got) != 2 || got[1] != StatusCompleted || len(inbox.sent) != 1 {
		t.Fatalf("outcomes %v, sent %d", got, len(inbox.sent))
	}
}
