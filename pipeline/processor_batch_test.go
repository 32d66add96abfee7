package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// countingLedger counts the ledger calls and fails ClaimBatch on demand.
type countingLedger struct {
	*MemoryOrderLedger
	mu           sync.Mutex
	claims       int
	batches      int
	failBatches  int // the next this many ClaimBatch calls fail
	stepsClaimed []int
}

func (l *countingLedger) Claim(ctx context.Context, s OrderStep) (OrderVerdict, error) {
	l.mu.Lock()
	l.claims++
	l.mu.Unlock()
	return l.MemoryOrderLedger.Claim(ctx, s)
}

func (l *countingLedger) ClaimBatch(ctx context.Context, steps []OrderStep) ([]OrderVerdict, error) {
	l.mu.Lock()
	l.batches++
	l.stepsClaimed = append(l.stepsClaimed, len(steps))
	fail := l.failBatches > 0
	if fail {
		l.failBatches--
	}
	l.mu.Unlock()
	if fail {
		return nil, errors.New("ledger write not acknowledged")
	}
	return l.MemoryOrderLedger.ClaimBatch(ctx, steps)
}

func newBatchProcessor(t *testing.T, inbox *fakeInbox, fwd Forwarder) (*Processor, *countingLedger, *outcomes) {
	t.Helper()
	led := &countingLedger{MemoryOrderLedger: NewMemoryOrderLedger()}
	rec := &outcomes{}
	p, err := NewProcessor(ProcessorConfig{SendOrderConfirmation: true},
		ProcessorDeps{Notifier: inbox, Catalog: &fakeForwarder{}, Forwarder: fwd, Recorder: rec, Ledger: led})
	if err != nil {
		t.Fatal(err)
	}
	return p, led, rec
}

func sentIDs(f *fakeInbox) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, n := range f.sent {
		ids = append(ids, n.EventID)
	}
	return ids
}

// batchRun is a partition's run with every kind of verdict: two orders
// interleaved, a newer and an older step, the same news under another id,
// a delivery of an event twice, a confirmation after a status update, and
// an event that is no order step at all.
func batchRun() []Delivery {
	sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
	noStep := orderUpdate("e9", "8", "processing", "processing", sec(5)) // no customer-facing change: skipped
	return []Delivery{
		orderCreated("e1", "7", sec(0)),
		orderUpdate("e2", "8", "processing", "new", sec(0)),
		orderUpdate("e3", "7", "processing", "new", sec(10)),
		orderUpdate("e3", "7", "processing", "new", sec(10)), // delivered twice
		orderUpdate("e4", "7", "processing", "new", sec(10)), // same news, another id
		orderUpdate("e5", "8", "shipped", "processing", sec(60)),
		orderUpdate("e6", "8", "processing", "new", sec(30)), // older than e5
		noStep,
		orderCreated("e7", "8", sec(0)), // confirmation after updates
		orderUpdate("e8", "7", "shipped", "processing", sec(20)),
	}
}

// TestProcessorHandleBatchAsHandle: a run handled by HandleBatch gets the
// outcomes and the messages, in the same order, that Handle gives it one
// delivery at a time, with one ledger call instead of one per step.
func TestProcessorHandleBatchAsHandle(t *testing.T) {
	one, batch := &fakeInbox{}, &fakeInbox{}
	p1, led1, rec1 := newBatchProcessor(t, one, &fakeForwarder{})
	for _, d := range batchRun() {
		if err := p1.Handle(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	p2, led2, rec2 := newBatchProcessor(t, batch, &fakeForwarder{})
	n, err := p2.HandleBatch(t.Context(), batchRun())
	if err != nil || n != len(batchRun()) {
		t.Fatalf("HandleBatch = %d, %v; want %d, nil", n, err, len(batchRun()))
	}
	if a, b := fmt.Sprint(rec1.statuses()), fmt.Sprint(rec2.statuses()); a != b {
		t.Fatalf("outcomes one by one %s, as a run %s", a, b)
	}
	want := []string{"e1", "e2", "e3", "e5", "e8"}
	if got := sentIDs(one); !slices.Equal(got, want) {
		t.Fatalf("one by one sent %v, want %v", got, want)
	}
	if got := sentIDs(batch); !slices.Equal(got, want) {
		t.Fatalf("as a run sent %v, want %v", got, want)
	}
	if led1.batches != 0 || led2.claims != 0 {
		t.Errorf("one by one: %d batches, as a run: %d single claims; want none", led1.batches, led2.claims)
	}
	for _, id := range []string{"7", "8"} {
		c1, _ := led1.Current(id)
		c2, _ := led2.Current(id)
		if c1 != c2 {
			t.Errorf("order %s: claim %+v one by one, %+v as a run", id, c1, c2)
		}
	}
}

// TestProcessorHandleBatchOneWritePerRun: a run of distinct orders (a
// backlog) makes one ledger call for all its steps; a run in which an
// order repeats is claimed in stretches that end where it repeats.
func TestProcessorHandleBatchOneWritePerRun(t *testing.T) {
	p, led, _ := newBatchProcessor(t, &fakeInbox{}, &fakeForwarder{})
	var run []Delivery
	for i := range 50 {
		run = append(run, orderUpdate(fmt.Sprintf("b%d", i), fmt.Sprint(100+i), "shipped", "processing", t0))
	}
	if n, err := p.HandleBatch(t.Context(), run); err != nil || n != len(run) {
		t.Fatalf("HandleBatch = %d, %v", n, err)
	}
	if !slices.Equal(led.stepsClaimed, []int{50}) || led.claims != 0 {
		t.Fatalf("ledger calls %v (+%d single), want one of 50 steps", led.stepsClaimed, led.claims)
	}
	led.stepsClaimed = nil
	if _, err := p.HandleBatch(t.Context(), batchRun()); err != nil {
		t.Fatal(err)
	}
	// e1 e2 | e3 | e3 again | e4 e5 | e6 (skipped e9) | e7 e8
	if want := []int{2, 1, 1, 2, 1, 2}; !slices.Equal(led.stepsClaimed, want) {
		t.Fatalf("stretches %v, want %v", led.stepsClaimed, want)
	}
}

// TestProcessorHandleBatchClaimFails: when the run's ledger write fails,
// nothing is sent or recorded and HandleBatch reports no delivery done;
// handed over again, the run is sent once.
func TestProcessorHandleBatchClaimFails(t *testing.T) {
	inbox := &fakeInbox{}
	p, led, rec := newBatchProcessor(t, inbox, &fakeForwarder{})
	led.failBatches = 1
	n, err := p.HandleBatch(t.Context(), batchRun())
	if err == nil || n != 0 {
		t.Fatalf("HandleBatch with a failing ledger = %d, %v; want 0 and an error", n, err)
	}
	if got := sentIDs(inbox); len(got) != 0 {
		t.Fatalf("sent %v before the claims were durable", got)
	}
	if got := rec.all(); len(got) != 0 {
		t.Fatalf("recorded %v for a run not handled", got)
	}
	if n, err := p.HandleBatch(t.Context(), batchRun()); err != nil || n != len(batchRun()) {
		t.Fatalf("again: %d, %v", n, err)
	}
	if got, want := sentIDs(inbox), []string{"e1", "e2", "e3", "e5", "e8"}; !slices.Equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}

// failingForwarder refuses retries: a failed send cannot be made durable.
type failingForwarder struct{ fakeForwarder }

func (f *failingForwarder) Retry(context.Context, Delivery, RetryDecision, error) error {
	return errors.New("retry tier: broker down")
}

// TestProcessorHandleBatchStopsAtTheFirstUndone: a delivery whose outcome
// cannot be made durable (its send failed and so did the forward) ends the
// run there: HandleBatch reports the deliveries before it done. Handed over
// again from there, the claimed step is sent (it holds its order's claim)
// and the rest follows, each message once.
func TestProcessorHandleBatchStopsAtTheFirstUndone(t *testing.T) {
	down := true
	inbox := &fakeInbox{fail: func(n Notification) error {
		if down && n.EventID == "e3" {
			return Retryable(errors.New("inbox: 503"), 0)
		}
		return nil
	}}
	fwd := &failingForwarder{}
	p, _, _ := newBatchProcessor(t, inbox, fwd)
	run := batchRun()
	n, err := p.HandleBatch(t.Context(), run)
	if err == nil || n != 2 {
		t.Fatalf("HandleBatch = %d, %v; want 2 (e1, e2 done) and an error", n, err)
	}
	if got, want := sentIDs(inbox), []string{"e1", "e2"}; !slices.Equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	down = false
	if n, err := p.HandleBatch(t.Context(), run[2:]); err != nil || n != len(run)-2 {
		t.Fatalf("again: %d, %v", n, err)
	}
	if got, want := sentIDs(inbox), []string{"e1", "e2", "e3", "e5", "e8"}; !slices.Equal(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}
