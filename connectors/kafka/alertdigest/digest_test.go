package alertdigest

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

type fakeChannels struct {
	mu      sync.Mutex
	failFor int   // transient failures before the first success
	refuse  error // when set, every delivery is refused with it
	singles []pipeline.Alert
	digests []pipeline.AlertDigest
	at      []time.Time // when each accepted message was sent
	chans   []pipeline.AlertChannel
}

// Deliver implements pipeline.AlertDeliverer.
func (f *fakeChannels) Deliver(_ context.Context, m pipeline.AlertDelivery) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return f.refuse
	}
	if f.failFor > 0 {
		f.failFor--
		return pipeline.Retryable(errors.New("inbox 503"), 0)
	}
	if m.Digest != nil {
		f.digests = append(f.digests, *m.Digest)
	} else {
		f.singles = append(f.singles, *m.Alert)
	}
	f.chans = append(f.chans, m.Channel)
	f.at = append(f.at, time.Now())
	return nil
}

func (f *fakeChannels) counts() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.singles), len(f.digests)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kfakeAlerts is a kfake cluster with the alerts topics and one retry
// tier, and a producer on it.
func kfakeAlerts(t *testing.T) (kafka.Config, *kafka.Producer) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, schemas.TopicAlerts, schemas.TopicAlertsDeferred,
		schemas.RetryTopic(2*time.Second), schemas.RetryTopic(4*time.Second), schemas.TopicDLQ))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = c.ListenAddrs()
	prod, err := kafka.NewProducer(kcfg, "test-producer", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close(context.Background()) })
	return kcfg, prod
}

// runDigester starts a digester until the test ends.
func runDigester(t *testing.T, kcfg kafka.Config, cfg Config, deps Deps) {
	t.Helper()
	cfg.Quiet, cfg.MaxWait, cfg.Rule = 300*time.Millisecond, 5*time.Second, pipeline.DigestRule{Min: 5, First: 3}
	cfg.Backoff, cfg.SessionTimeout, cfg.Retry = 50*time.Millisecond, 6*time.Second, testPolicy
	d, err := New(kcfg, cfg, deps, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("digester: %v", err)
		}
	})
}

func committedAt(t *testing.T, prod *kafka.Producer, topic string, want int64) func() bool {
	adm := kadm.NewClient(prod.Client())
	return func() bool {
		offs, err := adm.FetchOffsets(t.Context(), schemas.GroupAlerts)
		if err != nil {
			return false
		}
		o, ok := offs.Lookup(topic, 0)
		return ok && o.At == want
	}
}

// TestDigesterForwardsAFailedDigestWhole runs publisher and digester over
// kfake: a lone alert is sent by itself; a burst of 50 becomes one digest,
// and when the channel fails it is forwarded whole (one record, all 50 in
// its CSV) to the first retry tier with the tier headers, and only then
// are the burst's offsets committed. A refused alert goes to the DLQ.
func TestDigesterForwardsAFailedDigestWhole(t *testing.T) {
	kcfg, prod := kfakeAlerts(t)
	pub := NewPublisher(prod, schemas.TopicAlerts, nil, nil)
	ch := &fakeChannels{}
	fwd := kafka.NewForwarder(prod, testPolicy.Tiers, nil, nil)
	runDigester(t, kcfg, Config{Channels: []pipeline.AlertChannel{pipeline.ChannelWebhook}},
		Deps{Dispatch: &pipeline.AlertDispatch{Channels: ch}, Forwarder: fwd})
	ctx := t.Context()

	if err := pub.SendAlert(ctx, testAlert(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lone alert", func() bool { s, _ := ch.counts(); return s == 1 })

	ch.mu.Lock()
	ch.failFor = 1
	ch.mu.Unlock()
	for i := 1; i <= 50; i++ {
		if err := pub.SendAlert(ctx, testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}
	recs := readTopic(t, kcfg.Brokers, schemas.RetryTopic(2*time.Second), 1)
	waitFor(t, "offsets committed past the burst", committedAt(t, prod, schemas.TopicAlerts, 51))
	r := recs[0]
	if kafka.Header(r, schemas.HeaderEventType) != pipeline.AlertDeliveryType || kafka.Header(r, schemas.HeaderOriginalTopic) != schemas.TopicAlerts ||
		kafka.DueAt(r).IsZero() || kafka.Header(r, schemas.HeaderAttempts) != "1" {
		t.Fatalf("tier record headers %v", r.Headers)
	}
	m, err := pipeline.ParseAlertDelivery(r.Value)
	if err != nil {
		t.Fatal(err)
	}
	if m.Digest == nil || m.Digest.Total != 50 || m.Channel != pipeline.ChannelWebhook || string(r.Key) != m.Digest.ID ||
		kafka.Header(r, schemas.HeaderEventID) != m.ID() {
		t.Fatalf("tier record %s: %+v", r.Key, m)
	}
	if lines := len(splitLines(m.Digest.CSV)); lines != 51 {
		t.Fatalf("CSV has %d lines, want header + 50", lines)
	}
	if s, n := ch.counts(); s != 1 || n != 0 {
		t.Fatalf("%d singles, %d digests accepted; want 1 and 0", s, n)
	}

	ch.mu.Lock()
	ch.refuse = pipeline.Permanent(errors.New("webhook 410 gone"))
	ch.mu.Unlock()
	if err := pub.SendAlert(ctx, testAlert(99)); err != nil {
		t.Fatal(err)
	}
	dead := readTopic(t, kcfg.Brokers, schemas.TopicDLQ, 1)[0]
	if m, err := pipeline.ParseAlertDelivery(dead.Value); err != nil || m.Alert == nil || m.Alert.ID != testAlert(99).ID ||
		!strings.Contains(kafka.Header(dead, schemas.HeaderError), "410") {
		t.Fatalf("dead letter %v %+v %v", err, m, dead.Headers)
	}
	waitFor(t, "offsets committed past the refused alert", committedAt(t, prod, schemas.TopicAlerts, 52))
}

// readTopic reads the first n records of topic (no group), or fails.
func readTopic(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollRecords(ctx, n-len(out))
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(out), n, topic)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// TestDigesterBacklogAfterRestartIsOneDigest: 50 alerts published an hour
// ago and never committed (the owner's process restarted) are read at once
// by the new owner and sent as one digest, not 50 singles.
func TestDigesterBacklogAfterRestartIsOneDigest(t *testing.T) {
	kcfg, prod := kfakeAlerts(t)
	pub := NewPublisher(prod, schemas.TopicAlerts, func() time.Time { return time.Now().Add(-time.Hour) }, nil)
	for i := range 50 {
		if err := pub.SendAlert(t.Context(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}
	ch := &fakeChannels{}
	runDigester(t, kcfg, Config{Channels: []pipeline.AlertChannel{pipeline.ChannelInbox}},
		Deps{Dispatch: &pipeline.AlertDispatch{Channels: ch}, Forwarder: &fakeForwarder{}})
	waitFor(t, "the backlog sent", func() bool { s, n := ch.counts(); return s+n > 0 })
	waitFor(t, "offsets committed past the backlog", committedAt(t, prod, schemas.TopicAlerts, 50))
	if s, n := ch.counts(); s != 0 || n != 1 {
		t.Fatalf("%d singles, %d digests; want 0 and 1", s, n)
	}
	if got := ch.digests[0].Total; got != 50 {
		t.Fatalf("digest has %d alerts, want 50", got)
	}
}

// fakeClock runs at the real pace from a time the test sets (the owner's
// windows need time to pass).
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = time.Until(t)
}

// TestQuietHoursDeferTheWebhookToOneMorningDigest: at 23:00 in quiet hours
// 22:00-07:00, three alerts reach the staff inbox at once, while their
// webhook deliveries are written to the deferred topic due at 07:00. The
// owner stops (a restart overnight); at 07:00 a new digester sends what
// the night held to the webhook as ONE digest, and nothing again to the
// inbox.
func TestQuietHoursDeferTheWebhookToOneMorningDigest(t *testing.T) {
	kcfg, prod := kfakeAlerts(t)
	quiet, err := pipeline.ParseQuietHours("22:00-07:00", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	night := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	clk := &fakeClock{}
	clk.Set(night)
	pub := NewPublisher(prod, schemas.TopicAlerts, clk.Now, nil)
	metrics := NewMetrics(nil)
	both := []pipeline.AlertChannel{pipeline.ChannelInbox, pipeline.ChannelWebhook}
	ch := &fakeChannels{}
	dispatch := &pipeline.AlertDispatch{Channels: metrics.Counted(ch), Quiet: quiet,
		Defer: NewDeferrer(prod, schemas.TopicAlertsDeferred, clk.Now, metrics)}

	// The night: no deferred topic consumed (the owner "restarts" before
	// the morning).
	ctx, cancel := context.WithCancel(t.Context())
	d, err := New(kcfg, Config{Quiet: 300 * time.Millisecond, MaxWait: 5 * time.Second, Rule: pipeline.DigestRule{Min: 5},
		Channels: both, Retry: testPolicy, Now: clk.Now, SessionTimeout: 6 * time.Second},
		Deps{Dispatch: dispatch, Forwarder: &fakeForwarder{}}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for i := range 3 {
		if err := pub.SendAlert(t.Context(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}
	held := readTopic(t, kcfg.Brokers, schemas.TopicAlertsDeferred, 3)
	waitFor(t, "the night's window committed", committedAt(t, prod, schemas.TopicAlerts, 3))
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	morning := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	for _, r := range held {
		if due := kafka.DueAt(r); !due.Equal(morning) {
			t.Fatalf("deferred until %v, want %v", due, morning)
		}
	}
	if s, n := ch.counts(); s != 3 || n != 0 || slices.Contains(ch.chans, pipeline.ChannelWebhook) {
		t.Fatalf("night: %d singles, %d digests on %v; want 3 singles to the inbox", s, n, ch.chans)
	}
	if got := testutil.ToFloat64(metrics.deferred.WithLabelValues("webhook")); got != 3 {
		t.Fatalf("deferred counter %v, want 3", got)
	}

	clk.Set(morning.Add(time.Second))
	runDigester(t, kcfg, Config{Channels: both, DeferredTopic: schemas.TopicAlertsDeferred, Now: clk.Now},
		Deps{Dispatch: dispatch, Forwarder: &fakeForwarder{}})
	waitFor(t, "the morning digest", func() bool { _, n := ch.counts(); return n == 1 })
	waitFor(t, "the deferred deliveries committed", committedAt(t, prod, schemas.TopicAlertsDeferred, 3))
	s, n := ch.counts()
	if s != 3 || n != 1 || ch.chans[3] != pipeline.ChannelWebhook || ch.digests[0].Total != 3 {
		t.Fatalf("morning: %d singles, %d digests on %v", s, n, ch.chans)
	}
	if got := testutil.ToFloat64(metrics.deliveries.WithLabelValues("webhook", ResultDelivered)); got != 1 {
		t.Fatalf("webhook deliveries %v, want 1", got)
	}
}
