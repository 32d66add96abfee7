package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/kafkatest"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// countingSyncer is a Syncer that counts regenerations and can fail.
type countingSyncer struct {
	mu    sync.Mutex
	calls []time.Time
	fail  error // returned while set
}

func (s *countingSyncer) Sync(_ context.Context) (pipeline.CatalogSyncResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, time.Now())
	if s.fail != nil {
		return pipeline.CatalogSyncResult{}, s.fail
	}
	return pipeline.CatalogSyncResult{Rows: 1, Uploaded: true}, nil
}

func (s *countingSyncer) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

func (s *countingSyncer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// outcomeLog is an OutcomeRecorder that keeps what it is given.
type outcomeLog struct {
	mu   sync.Mutex
	outs []pipeline.Outcome
}

func (l *outcomeLog) Record(o pipeline.Outcome) {
	l.mu.Lock()
	l.outs = append(l.outs, o)
	l.mu.Unlock()
}

func (l *outcomeLog) completed() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, o := range l.outs {
		if o.Status == pipeline.StatusCompleted {
			out[o.EventID]++
		}
	}
	return out
}

type nopDLQ struct{}

func (nopDLQ) DeadLetter(context.Context, pipeline.Delivery, error) error { return nil }

// triggerRig is a sync topic, a product topic and the group names of one
// test, on the real broker.
type triggerRig struct {
	kcfg              kafka.Config
	sync, product     string
	group, processors string
	syncer            *countingSyncer
	outcomes          *outcomeLog
	prod              *kgo.Client
	quiet, maxWait    time.Duration
}

func newTriggerRig(t *testing.T) *triggerRig {
	t.Helper()
	brokers := kafkatest.Brokers(t)
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = brokers
	prefix := kafkatest.UniquePrefix()
	r := &triggerRig{kcfg: kcfg,
		sync:    kafkatest.CreateTopic(t, "catalog-sync", 1, nil),
		product: kafkatest.CreateTopic(t, "product", 3, nil),
		group:   prefix + "catalog", processors: prefix + "processor",
		syncer: &countingSyncer{}, outcomes: &outcomeLog{},
		quiet: 500 * time.Millisecond, maxWait: 20 * time.Second,
	}
	kafkatest.WaitForLeaders(t, 30*time.Second, r.sync, r.product)
	r.prod = kafkatest.NewClient(t)
	return r
}

// start runs one trigger until the test ends or stop is called.
func (r *triggerRig) start(t *testing.T) (stop func()) {
	t.Helper()
	tr, err := NewTrigger(r.kcfg, TriggerConfig{
		Group: r.group, SyncTopic: r.sync, Processors: r.processors, ProductTopics: []string{r.product},
		Quiet: r.quiet, MaxWait: r.maxWait, SessionTimeout: 6 * time.Second,
	}, r.syncer, nopDLQ{}, r.outcomes, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = tr.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// mark writes one catalog mark as a processor would, for an event accepted
// at accepted, and returns its event id.
func (r *triggerRig) mark(t *testing.T, accepted time.Time) string {
	t.Helper()
	id := fmt.Sprintf("ev-%d", time.Now().UnixNano())
	body := []byte(fmt.Sprintf(`{"event":"product.updated","timestamp":%q,"data":{"id":1,"name":"Mug"}}`, accepted.UTC().Format(time.RFC3339Nano)))
	d := pipeline.Delivery{Event: pipeline.Event{ID: id, Type: pipeline.ProductUpdated, Kind: pipeline.KindProduct, EntityID: "1",
		ReceivedAt: accepted, Body: body}, Attempt: 1, Topic: r.product, Origin: pipeline.Origin{Topic: r.product}}
	rec := kafka.DeliveryRecord(r.sync, d, nil, time.Now())
	rec.Key = []byte("catalog")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := r.prod.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return id
}

// committed is the catalog group's committed offset on the sync topic.
func (r *triggerRig) committed(t *testing.T) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(r.prod).FetchOffsets(ctx, r.group)
	if err != nil {
		return -1
	}
	o, ok := offs.Lookup(r.sync, 0)
	if !ok {
		return -1
	}
	return o.At
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTriggerMarkDuringRebalance: three triggers start together and one
// product event's mark is written while their group is still forming. The
// mark is never forgotten: whoever ends up owning the partition re-reads it
// from the committed offset and a sync covers it. Then the owner set changes
// again (one trigger leaves) with a second mark in flight: covered too.
func TestTriggerMarkDuringRebalance(t *testing.T) {
	r := newTriggerRig(t)
	stops := []func(){r.start(t), r.start(t), r.start(t)}
	first := r.mark(t, time.Now())
	waitFor(t, 60*time.Second, "the first mark committed", func() bool { return r.committed(t) >= 1 })
	if got := r.outcomes.completed()[first]; got < 1 {
		t.Fatalf("first mark: %d completed outcomes", got)
	}
	syncs := r.syncer.count()
	if syncs < 1 {
		t.Fatalf("no sync covered the first mark")
	}

	stops[0]() // leave: the group rebalances
	second := r.mark(t, time.Now())
	waitFor(t, 60*time.Second, "the second mark committed", func() bool { return r.committed(t) >= 2 })
	if got := r.outcomes.completed()[second]; got < 1 {
		t.Fatalf("second mark: %d completed outcomes", got)
	}
	if r.syncer.count() <= syncs {
		t.Fatalf("no sync after the second mark")
	}
}

// TestTriggerBurstOneSync: a burst of marks of events accepted within the
// quiet period, delivered over several quiet periods (slow processors): one
// sync, once the processor group has caught up on the product topic.
func TestTriggerBurstOneSync(t *testing.T) {
	r := newTriggerRig(t)
	r.start(t)
	r.start(t)
	// The processors are behind: product records they have not committed.
	for p := range int32(3) {
		rec := &kgo.Record{Topic: r.product, Partition: p, Value: []byte("{}")}
		if err := r.prod.ProduceSync(t.Context(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	accepted := time.Now()
	var ids []string
	for i := range 60 {
		ids = append(ids, r.mark(t, accepted.Add(time.Duration(i)*5*time.Millisecond)))
		if i%20 == 19 {
			time.Sleep(2 * r.quiet) // the marks trickle in
		}
	}
	time.Sleep(2 * r.quiet)
	if n := r.syncer.count(); n != 0 {
		t.Fatalf("%d syncs while the processors were behind", n)
	}
	// The processors commit: caught up.
	offs := kadm.Offsets{}
	for p := range int32(3) {
		offs.Add(kadm.Offset{Topic: r.product, Partition: p, At: 1, LeaderEpoch: -1})
	}
	if _, err := kadm.NewClient(r.prod).CommitOffsets(t.Context(), r.processors, offs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every mark committed", func() bool { return r.committed(t) >= int64(len(ids)) })
	if n := r.syncer.count(); n != 1 {
		t.Errorf("%d syncs for one burst, want 1", n)
	}
	done := r.outcomes.completed()
	for _, id := range ids {
		if done[id] != 1 {
			t.Errorf("event %s: %d completed outcomes, want 1", id, done[id])
		}
	}
}

// TestTriggerOutageKeepsNoMarks: during a knowledge-base outage marks keep
// coming; the trigger retries, and after the outage one sync covers them
// all, each reported once.
func TestTriggerOutage(t *testing.T) {
	r := newTriggerRig(t)
	r.quiet, r.maxWait = 200*time.Millisecond, 2*time.Second
	r.syncer.setFail(pipeline.Retryable(fmt.Errorf("coze: 503"), 0))
	r.start(t)
	var ids []string
	for range 300 {
		ids = append(ids, r.mark(t, time.Now()))
	}
	waitFor(t, 30*time.Second, "a few failed syncs", func() bool { return r.syncer.count() >= 3 })
	if c := r.committed(t); c > 0 {
		t.Fatalf("committed %d during the outage", c)
	}
	r.syncer.setFail(nil)
	waitFor(t, 60*time.Second, "every mark committed", func() bool { return r.committed(t) >= int64(len(ids)) })
	done := r.outcomes.completed()
	for _, id := range ids {
		if done[id] != 1 {
			t.Fatalf("event %s: %d completed outcomes, want 1", id, done[id])
		}
	}
}

var _ = schemas.TopicCatalogSync
