package alertdigest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// fakeMarker records what the owner marks and how often it commits.
type fakeMarker struct {
	mu      sync.Mutex
	marked  []int64
	commits int
}

func (m *fakeMarker) Mark(rs ...*kgo.Record) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		m.marked = append(m.marked, r.Offset)
	}
	return true
}

func (m *fakeMarker) Commit(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.commits++
	return nil
}

func (m *fakeMarker) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.marked)
}

func testAlert(i int) pipeline.Alert {
	return pipeline.Alert{ID: fmt.Sprintf("alert_%03d", i), Trigger: pipeline.AlertPriceChange, ProductID: fmt.Sprint(i), Old: "10.00", New: "8.00"}
}

func alertRecord(t *testing.T, offset int64, a pipeline.Alert, produced time.Time) *kgo.Record {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Offset: offset, Value: b, Timestamp: produced}
}

// sentIDs lists every alert id the channels accepted, alone or in a digest.
func (f *fakeChannels) sentIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, a := range f.singles {
		ids = append(ids, a.ID)
	}
	for _, d := range f.digests {
		for _, a := range d.Alerts {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

func onceEach(t *testing.T, ids []string, want int) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range ids {
		seen[id]++
		if seen[id] > 1 {
			t.Errorf("alert %s sent %d times", id, seen[id])
		}
	}
	if len(seen) != want {
		t.Errorf("%d distinct alerts sent, want %d", len(seen), want)
	}
}

// fakeForwarder records what the owner forwards.
type fakeForwarder struct {
	mu      sync.Mutex
	retried []pipeline.Delivery
	dead    []pipeline.Delivery
}

func (f *fakeForwarder) Retry(_ context.Context, d pipeline.Delivery, _ pipeline.RetryDecision, _ error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retried = append(f.retried, d)
	return nil
}

func (f *fakeForwarder) DeadLetter(_ context.Context, d pipeline.Delivery, _ error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead = append(f.dead, d)
	return nil
}

func (f *fakeForwarder) counts() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.retried), len(f.dead)
}

// outcomeLog records outcomes.
type outcomeLog struct {
	mu  sync.Mutex
	out []pipeline.Outcome
}

func (l *outcomeLog) Record(o pipeline.Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out = append(l.out, o)
}

func (l *outcomeLog) statuses() map[pipeline.Status]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := map[pipeline.Status]int{}
	for _, o := range l.out {
		m[o.Status]++
	}
	return m
}

var testPolicy = pipeline.RetryPolicy{Tiers: []time.Duration{2 * time.Second, 4 * time.Second}, MaxAge: time.Hour}

func testDigester(ch pipeline.AlertDeliverer) *Digester {
	return testDigesterWith(ch, &fakeForwarder{}, nil)
}

func testDigesterWith(ch pipeline.AlertDeliverer, fwd pipeline.Forwarder, rec pipeline.OutcomeRecorder) *Digester {
	return newDigester(Config{Quiet: 300 * time.Millisecond, MaxWait: 5 * time.Second,
		Rule: pipeline.DigestRule{Min: 5, First: 3}, Backoff: time.Second, Retry: testPolicy,
		Channels: []pipeline.AlertChannel{pipeline.ChannelInbox}},
		Deps{Dispatch: &pipeline.AlertDispatch{Channels: ch}, Forwarder: fwd, Recorder: rec}, nil)
}

// TestOwnerBacklogBecomesOneDigest: a fresh owner that reads 50 alerts
// produced an hour ago (a restart re-reading the uncommitted window) sends
// one digest, not 50 singles; alerts queued behind a window whose send
// keeps failing for seconds also become one digest when they are read.
func TestOwnerBacklogBecomesOneDigest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch, fwd, rec := &fakeChannels{}, &fakeForwarder{}, &outcomeLog{}
		d := testDigesterWith(ch, fwd, rec)
		ctx := t.Context()
		defer d.revoked(ctx, "", 0)
		m := &fakeMarker{}

		old := time.Now().Add(-time.Hour)
		for i := range 50 {
			if err := d.take(ctx, alertRecord(t, int64(i), testAlert(i), old.Add(time.Duration(i)*time.Millisecond)), m); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if s, n := ch.counts(); s != 0 || n != 1 {
			t.Fatalf("backlog: %d singles, %d digests; want 0 and 1", s, n)
		}
		if got := ch.digests[0].Total; got != 50 {
			t.Fatalf("backlog digest has %d alerts, want 50", got)
		}
		if m.count() != 50 || m.commits == 0 {
			t.Fatalf("marked %d records, %d commits", m.count(), m.commits)
		}

		// A fresh burst of 10 whose send fails: the digest is forwarded to
		// the first tier whole, not retried in place, so 30 alerts that
		// follow are sent at once as their own digest.
		ch.mu.Lock()
		ch.failFor = 1
		ch.mu.Unlock()
		next := int64(50)
		for i := 100; i < 110; i++ {
			if err := d.take(ctx, alertRecord(t, next, testAlert(i), time.Now()), m); err != nil {
				t.Fatal(err)
			}
			next++
		}
		time.Sleep(time.Second)
		synctest.Wait()
		retried, dead := fwd.counts()
		if retried != 1 || dead != 0 {
			t.Fatalf("failed burst: %d forwarded to a tier, %d dead; want 1 and 0", retried, dead)
		}
		fm, err := pipeline.ParseAlertDelivery(fwd.retried[0].Event.Body)
		if err != nil || fm.Digest == nil || fm.Digest.Total != 10 || fwd.retried[0].Attempt != 1 || fwd.retried[0].Offset != 50 {
			t.Fatalf("forwarded %+v (%v), attempt %d offset %d", fm, err, fwd.retried[0].Attempt, fwd.retried[0].Offset)
		}
		start := time.Now()
		for i := range 30 {
			if err := d.take(ctx, alertRecord(t, next+int64(i), testAlert(200+i), start.Add(time.Duration(i)*100*time.Millisecond)), m); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if s, n := ch.counts(); s != 0 || n != 2 {
			t.Fatalf("after the failed send: %d singles, %d digests; want 0 and 2", s, n)
		}
		if got := ch.digests[1].Total; got != 30 {
			t.Fatalf("next digest has %d alerts, want 30", got)
		}
		onceEach(t, ch.sentIDs(), 80)
		if m.count() != 90 {
			t.Fatalf("marked %d records, want 90", m.count())
		}
		st := rec.statuses()
		if st[pipeline.StatusCompleted] != 2 || st[pipeline.StatusRetrying] != 1 {
			t.Fatalf("outcomes %v, want 2 completed and 1 retrying", st)
		}
	})
}

// TestOwnerSteadyLateStreamIsSentWithinBound: late records that keep
// arriving every 100 ms (never the 200 ms pause) are still sent, at most
// lateMax (2 s) after the first late record of each window.
func TestOwnerSteadyLateStreamIsSentWithinBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch := &fakeChannels{}
		d := testDigester(ch)
		if d.settle != 200*time.Millisecond || d.lateMax != 2*time.Second {
			t.Fatalf("settle %v, lateMax %v; want 200ms and 2s", d.settle, d.lateMax)
		}
		ctx := t.Context()
		defer d.revoked(ctx, "", 0)
		m := &fakeMarker{}
		old := time.Now().Add(-time.Hour)
		begin := time.Now()
		for i := range 60 {
			if err := d.take(ctx, alertRecord(t, int64(i), testAlert(i), old.Add(time.Duration(i)*time.Millisecond)), m); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		end := time.Now()
		time.Sleep(5 * time.Second)
		synctest.Wait()

		ch.mu.Lock()
		at := append([]time.Time(nil), ch.at...)
		ch.mu.Unlock()
		if len(at) == 0 {
			t.Fatal("nothing sent")
		}
		if first := at[0].Sub(begin); first > d.lateMax {
			t.Fatalf("first message sent %v after the first late record, want at most %v", first, d.lateMax)
		}
		if !at[0].Before(end) {
			t.Fatal("nothing was sent while the stream went on")
		}
		for i := 1; i < len(at); i++ {
			if gap := at[i].Sub(at[i-1]); gap > d.lateMax+200*time.Millisecond {
				t.Fatalf("messages %d and %d sent %v apart", i-1, i, gap)
			}
		}
		_, digests := ch.counts()
		if digests < 2 || digests > 4 {
			t.Fatalf("%d digests for a 6 s stream, want 2 to 4 (one per ~2 s)", digests)
		}
		onceEach(t, ch.sentIDs(), 60)
		if m.count() != 60 {
			t.Fatalf("marked %d records, want 60", m.count())
		}
	})
}

// TestOwnerLeavesOutAlertsAlreadySent: an alert re-published with the same
// id (a retried product event), alone or after it went out in a digest, is
// not sent again; nor is anything re-read by a new owner after a revoke.
// The records are still marked and committed.
func TestOwnerLeavesOutAlertsAlreadySent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch := &fakeChannels{}
		d := testDigester(ch)
		ctx := t.Context()
		m := &fakeMarker{}
		var recs []*kgo.Record
		take := func(a pipeline.Alert) {
			t.Helper()
			r := alertRecord(t, int64(len(recs)), a, time.Now())
			recs = append(recs, r)
			if err := d.take(ctx, r, m); err != nil {
				t.Fatal(err)
			}
		}
		settle := func() {
			time.Sleep(3 * time.Second)
			synctest.Wait()
		}

		take(testAlert(0))
		settle()
		take(testAlert(0)) // re-published
		settle()
		if s, n := ch.counts(); s != 1 || n != 0 {
			t.Fatalf("re-published single: %d singles, %d digests; want 1 and 0", s, n)
		}

		for i := 1; i <= 5; i++ {
			take(testAlert(i))
		}
		settle()
		take(testAlert(2)) // re-published after going out in the digest
		take(testAlert(4))
		take(testAlert(6)) // new
		settle()
		if s, n := ch.counts(); s != 2 || n != 1 {
			t.Fatalf("re-published digest alerts: %d singles, %d digests; want 2 and 1", s, n)
		}
		if ch.singles[1].ID != testAlert(6).ID {
			t.Fatalf("second single is %s, want %s", ch.singles[1].ID, testAlert(6).ID)
		}
		if m.count() != len(recs) {
			t.Fatalf("marked %d records, want %d", m.count(), len(recs))
		}

		// A revoke; the next owner re-reads everything from offset 0.
		d.revoked(ctx, "", 0)
		defer d.revoked(ctx, "", 0)
		m2 := &fakeMarker{}
		for _, r := range recs {
			if err := d.take(ctx, r, m2); err != nil {
				t.Fatal(err)
			}
		}
		settle()
		if s, n := ch.counts(); s != 2 || n != 1 {
			t.Fatalf("after a re-read: %d singles, %d digests; want 2 and 1", s, n)
		}
		if m2.count() != len(recs) || m2.commits == 0 {
			t.Fatalf("re-read: marked %d of %d records, %d commits", m2.count(), len(recs), m2.commits)
		}
		onceEach(t, ch.sentIDs(), 7)
	})
}

// heldDeliveries is a pipeline.AlertDeferrer that keeps what it holds.
type heldDeliveries struct {
	mu    sync.Mutex
	held  []pipeline.AlertDelivery
	until []time.Time
}

func (h *heldDeliveries) Defer(_ context.Context, m pipeline.AlertDelivery, until time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held, h.until = append(h.held, m), append(h.until, until)
	return nil
}

// TestOwnerSendsWhatItDeferredInTheMorning: in one process (no restart),
// three alerts at midnight go to the inbox at once and are deferred for
// the webhook until 07:00; when the deferred deliveries come back at 07:00
// (the worker held them until then) the same digester sends them to the
// webhook as one digest, although it remembers having deferred them.
func TestOwnerSendsWhatItDeferredInTheMorning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		quiet, err := pipeline.ParseQuietHours("22:00-07:00", time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		if !quiet.Contains(time.Now()) {
			t.Fatalf("the bubble's clock %v is not in the quiet hours", time.Now())
		}
		ch, held := &fakeChannels{}, &heldDeliveries{}
		d := newDigester(Config{Quiet: 300 * time.Millisecond, MaxWait: 5 * time.Second, Rule: pipeline.DigestRule{Min: 5},
			DeferredTopic: schemas.TopicAlertsDeferred, Retry: testPolicy,
			Channels: []pipeline.AlertChannel{pipeline.ChannelInbox, pipeline.ChannelWebhook}},
			Deps{Dispatch: &pipeline.AlertDispatch{Channels: ch, Defer: held, Quiet: quiet}, Forwarder: &fakeForwarder{}}, nil)
		ctx := t.Context()
		defer d.revoked(ctx, schemas.TopicAlerts, 0)
		defer d.revoked(ctx, schemas.TopicAlertsDeferred, 0)
		m := &fakeMarker{}
		for i := range 3 {
			r := alertRecord(t, int64(i), testAlert(i), time.Now())
			r.Topic = schemas.TopicAlerts
			if err := d.take(ctx, r, m); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if s, n := ch.counts(); s != 3 || n != 0 || len(held.held) != 3 || m.count() != 3 {
			t.Fatalf("night: %d singles, %d digests, %d held, %d marked", s, n, len(held.held), m.count())
		}
		morning := held.until[0]
		if morning.Hour() != 7 || morning.Minute() != 0 || !morning.After(time.Now()) {
			t.Fatalf("held until %v", morning)
		}

		time.Sleep(time.Until(morning) + time.Second)
		m2 := &fakeMarker{}
		for i, dl := range held.held {
			r, err := DeliveryRecord(schemas.TopicAlertsDeferred, dl, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			r.Offset = int64(i)
			if err := d.take(ctx, r, m2); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if s, n := ch.counts(); s != 3 || n != 1 || ch.digests[0].Total != 3 || ch.chans[3] != pipeline.ChannelWebhook {
			t.Fatalf("morning: %d singles, %d digests on %v", s, n, ch.chans)
		}
		if m2.count() != 3 {
			t.Fatalf("morning: marked %d records, want 3", m2.count())
		}
	})
}
