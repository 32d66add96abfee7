package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type fakeObserver struct {
	mu       sync.Mutex
	held     []int // every count reported
	oldest   time.Time
	retried  []int
	dead     map[DeadLetterCause]int
	deadAges []time.Duration
}

func (o *fakeObserver) Held(n int, oldest time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.held = append(o.held, n)
	if n > 0 && (o.oldest.IsZero() || oldest.Before(o.oldest)) {
		o.oldest = oldest
	}
}

func (o *fakeObserver) Retried(tier int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retried = append(o.retried, tier)
}

func (o *fakeObserver) DeadLettered(c DeadLetterCause, age time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dead == nil {
		o.dead = map[DeadLetterCause]int{}
	}
	o.dead[c]++
	o.deadAges = append(o.deadAges, age)
}

func orderCreated(id, orderID string, at time.Time) Delivery {
	data := fmt.Sprintf(`{"order_id":%s,"order_number":"100%s","customer_email":"ana@example.com","status":"new","updated_at":%q}`,
		orderID, orderID, at.Format(time.RFC3339))
	return Delivery{Attempt: 1, Topic: "evershop.order", Event: Event{
		ID: id, Type: OrderCreated, Kind: KindOrder, EntityID: orderID, Timestamp: at, Data: []byte(data)}}
}

// TestProcessorOrderSteps: the verdicts of the order ledger as the
// customer sees them, step by step.
func TestProcessorOrderSteps(t *testing.T) {
	type step struct {
		d    Delivery
		fail bool // the inbox fails this attempt transiently
		want Status
	}
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	retry := func(d Delivery) Delivery { d.Attempt, d.Topic = 2, "evershop.retry.2s"; return d }
	cases := []struct {
		name  string
		steps []step
		sent  []string // event ids the customer got, in order
	}{
		{"equal time: higher rank after lower is sent", []step{
			{d: orderUpdate("e1", "7", "processing", "new", sec(0)), want: StatusCompleted},
			{d: orderUpdate("e2", "7", "shipped", "processing", sec(0)), want: StatusCompleted},
		}, []string{"e1", "e2"}},
		{"equal time: lower rank after higher is superseded", []step{
			{d: orderUpdate("e2", "7", "shipped", "processing", sec(0)), want: StatusCompleted},
			{d: orderUpdate("e1", "7", "processing", "new", sec(0)), want: StatusSuperseded},
		}, []string{"e2"}},
		{"confirmation after a status update is superseded", []step{
			{d: orderUpdate("e2", "7", "processing", "new", sec(0)), want: StatusCompleted},
			{d: orderCreated("e1", "7", sec(0)), want: StatusSuperseded},
		}, []string{"e2"}},
		{"confirmation then status update", []step{
			{d: orderCreated("e1", "7", sec(0)), want: StatusCompleted},
			{d: orderUpdate("e2", "7", "processing", "new", sec(0)), want: StatusCompleted},
		}, []string{"e1", "e2"}},
		{"a failed step retried from its tier is sent", []step{
			{d: orderUpdate("e1", "7", "processing", "new", sec(0)), fail: true, want: StatusRetrying},
			{d: retry(orderUpdate("e1", "7", "processing", "new", sec(0))), want: StatusCompleted},
		}, []string{"e1"}},
		{"a failed step overtaken while in its tier is superseded", []step{
			{d: orderUpdate("e1", "7", "processing", "new", sec(0)), fail: true, want: StatusRetrying},
			{d: orderUpdate("e2", "7", "shipped", "processing", sec(60)), want: StatusCompleted},
			{d: retry(orderUpdate("e1", "7", "processing", "new", sec(0))), want: StatusSuperseded},
		}, []string{"e2"}},
		{"the same step under another id while the first is in its tier", []step{
			{d: orderUpdate("e1", "7", "shipped", "processing", sec(0)), fail: true, want: StatusRetrying},
			{d: orderUpdate("e2", "7", "shipped", "processing", sec(0)), want: StatusDuplicate},
			{d: retry(orderUpdate("e1", "7", "shipped", "processing", sec(0))), want: StatusCompleted},
		}, []string{"e1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var failNext bool
			inbox := &fakeInbox{fail: func(Notification) error {
				if failNext {
					return Retryable(errors.New("inbox: 503"), 0)
				}
				return nil
			}}
			p, _, rec := newTestProcessor(t, ProcessorConfig{SendOrderConfirmation: true}, inbox)
			for i, s := range c.steps {
				failNext = s.fail
				if err := p.Handle(t.Context(), s.d); err != nil {
					t.Fatalf("step %d: %v", i+1, err)
				}
				if got := rec.statuses(); got[len(got)-1] != s.want {
					t.Fatalf("step %d (%s): outcome %s, want %s", i+1, s.d.Event.ID, got[len(got)-1], s.want)
				}
			}
			var sent []string
			for _, n := range inbox.sent {
				sent = append(sent, n.EventID)
			}
			if fmt.Sprint(sent) != fmt.Sprint(c.sent) {
				t.Fatalf("sent %v, want %v", sent, c.sent)
			}
		})
	}
}

// TestProcessorReceivedOutcome: the first delivery from the source topic
// records "received" before its attempt's outcome; a tier delivery does not.
func TestProcessorReceivedOutcome(t *testing.T) {
	p, _, rec := newTestProcessor(t, ProcessorConfig{}, &fakeInbox{})
	d := orderUpdate("e1", "7", "shipped", "processing", t0)
	d.Event.ReceivedAt, d.Partition, d.Offset = t0.Add(time.Second), 2, 41
	if err := p.Handle(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	d2 := orderUpdate("e2", "7", "delivered", "shipped", t0.Add(time.Hour))
	d2.Attempt, d2.Topic = 2, "evershop.retry.2s"
	if err := p.Handle(t.Context(), d2); err != nil {
		t.Fatal(err)
	}
	got := rec.all()
	if len(got) != 3 || got[0].Status != StatusReceived || got[1].Status != StatusCompleted || got[2].Status != StatusCompleted {
		t.Fatalf("outcomes %+v", got)
	}
	r := got[0]
	if r.EventID != "e1" || r.Attempt != 0 || !r.ProcessedAt.Equal(d.Event.ReceivedAt) || !r.ReceivedAt.Equal(d.Event.ReceivedAt) ||
		r.Topic != "evershop.order" || r.Partition != 2 || r.Offset != 41 || r.ProcessingMs != 0 {
		t.Fatalf("received outcome %+v", r)
	}
}

// TestProcessorRetryAge: transient failures cycle on the last tier until the
// event is MaxAge old; permanent ones are dead at once. The observer counts
// both causes.
func TestProcessorRetryAge(t *testing.T) {
	now := t0.Add(48 * time.Hour)
	cases := []struct {
		name    string
		err     error
		attempt int
		age     time.Duration
		want    Status
		cause   DeadLetterCause
	}{
		{"past the tiers, young: last tier", Retryable(errors.New("inbox: 503"), 0), 9, time.Hour, StatusRetrying, ""},
		{"past max age: dead", Retryable(errors.New("inbox: 503"), 0), 9, 25 * time.Hour, StatusDead, DeadLetterMaxAge},
		{"permanent: dead", Permanentf("inbox: 422"), 1, time.Minute, StatusDead, DeadLetterPermanent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inbox := &fakeInbox{fail: func(Notification) error { return c.err }}
			fwd, rec, obs := &fakeForwarder{}, &outcomes{}, &fakeObserver{}
			p, err := NewProcessor(ProcessorConfig{}, ProcessorDeps{Notifier: inbox, Catalog: fwd, Forwarder: fwd,
				Recorder: rec, Observer: obs, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			d := orderUpdate("e1", "7", "shipped", "processing", t0)
			d.Attempt, d.Event.ReceivedAt = c.attempt, now.Add(-c.age)
			if err := p.Handle(t.Context(), d); err != nil {
				t.Fatal(err)
			}
			if got := rec.statuses(); len(got) != 1 || got[0] != c.want {
				t.Fatalf("outcomes %v, want %s", got, c.want)
			}
			switch c.want {
			case StatusRetrying:
				if len(fwd.retried) != 1 || fwd.retried[0].Tier != 2 || len(obs.retried) != 1 {
					t.Fatalf("retried %+v, observed %v", fwd.retried, obs.retried)
				}
			case StatusDead:
				if obs.dead[c.cause] != 1 || obs.deadAges[0] != c.age {
					t.Fatalf("observed dead letters %v ages %v, want one %s", obs.dead, obs.deadAges, c.cause)
				}
			}
		})
	}
}

// TestProcessorHoldIsObservedAndEndsAtMaxAge: during an outage the held
// events are reported; one whose age reaches MaxAge while held is
// dead-lettered instead of being held further.
func TestProcessorHoldIsObservedAndEndsAtMaxAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		inbox := &fakeInbox{fail: func(Notification) error { return Retryable(errors.New("inbox: 503"), 0) }}
		fwd, rec, obs := &fakeForwarder{}, &outcomes{}, &fakeObserver{}
		policy := RetryPolicy{MaxAge: 10 * time.Minute, RetryAfterMax: time.Minute}
		// The inbox is already known to be down: the breaker is open.
		br := NewBreaker(BreakerConfig{FailureThreshold: 1})
		br.Failure(start, Retryable(errors.New("inbox: 503"), 0))
		p, err := NewProcessor(ProcessorConfig{Retry: policy}, ProcessorDeps{Notifier: inbox, Catalog: fwd, Forwarder: fwd,
			Recorder: rec, Observer: obs, Breaker: br})
		if err != nil {
			t.Fatal(err)
		}
		// Two events are held: one received 8 minutes ago, one just now.
		var wg sync.WaitGroup
		for i, age := range []time.Duration{8 * time.Minute, 0} {
			d := orderUpdate(fmt.Sprintf("e%d", i+1), fmt.Sprint(i+7), "shipped", "processing", t0)
			d.Event.ReceivedAt = start.Add(-age)
			wg.Go(func() {
				if err := p.Handle(t.Context(), d); err != nil {
					t.Error(err)
				}
			})
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n, oldest := p.Holding(); n != 2 || !oldest.Equal(start.Add(-8*time.Minute)) {
			t.Fatalf("holding %d, oldest %s", n, oldest)
		}
		time.Sleep(2 * time.Minute) // the older event is now past 10 minutes
		synctest.Wait()
		if n, _ := p.Holding(); n != 1 {
			t.Fatalf("holding %d after the older reached max age", n)
		}
		if len(fwd.dead) != 1 || fwd.dead[0].Event.ID != "e1" || obs.dead[DeadLetterMaxAge] != 1 {
			t.Fatalf("dead %d, observed %v", len(fwd.dead), obs.dead)
		}
		// The inbox recovers; the younger event is delivered.
		inbox.mu.Lock()
		inbox.fail = nil
		inbox.mu.Unlock()
		wg.Wait()
		if n, _ := p.Holding(); n != 0 || obs.held[len(obs.held)-1] != 0 {
			t.Fatalf("holding %d, last reported %v", n, obs.held)
		}
		if len(inbox.sent) != 1 || inbox.sent[0].EventID != "e2" {
			t.Fatalf("sent %+v", inbox.sent)
		}
	})
}

// TestProcessorOrderStepsLeaveInClaimOrder: many workers handle the steps
// of a few orders concurrently, in random order, with an inbox of random
// latency. Whatever the interleaving, each order's messages reach the
// customer in lifecycle order: the per-order lock spans claim and send.
func TestProcessorOrderStepsLeaveInClaimOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		statuses := []string{"processing", "shipped", "delivered", "completed"}
		rng := rand.New(rand.NewPCG(1, 2))
		inbox := &fakeInbox{}
		slow := notifierFunc(func(ctx context.Context, n Notification) error {
			time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
			return inbox.Notify(ctx, n)
		})
		fwd := &fakeForwarder{}
		p, err := NewProcessor(ProcessorConfig{}, ProcessorDeps{Notifier: slow, Catalog: fwd, Forwarder: fwd})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for order := range 20 {
			for i, st := range statuses {
				d := orderUpdate(fmt.Sprintf("o%d-%d", order, i), fmt.Sprint(order), st, "", t0.Add(time.Duration(i)*time.Second/2).Truncate(time.Second))
				delay := time.Duration(rng.IntN(50)) * time.Millisecond
				wg.Go(func() {
					time.Sleep(delay)
					if err := p.Handle(t.Context(), d); err != nil {
						t.Error(err)
					}
				})
			}
		}
		wg.Wait()
		last := map[string]int{}
		for _, n := range inbox.sent {
			var order, i int
			_, _ = fmt.Sscanf(n.EventID, "o%d-%d", &order, &i) // the test built these ids
			key := fmt.Sprint(order)
			if prev, ok := last[key]; ok && i <= prev {
				t.Errorf("order %s: step %d sent after step %d", key, i, prev)
			}
			last[key] = i
		}
		if len(last) != 20 {
			t.Errorf("%d orders got a message, want 20", len(last))
		}
	})
}

type notifierFunc func(context.Context, Notification) error

func (f notifierFunc) Notify(ctx context.Context, n Notification) error { return f(ctx, n) }
