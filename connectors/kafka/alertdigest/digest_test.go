package alertdigest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

type fakeChannels struct {
	mu      sync.Mutex
	failFor int // transient failures before the first success
	singles []pipeline.Alert
	digests []pipeline.AlertDigest
	at      []time.Time // when each accepted message was sent
}

func (f *fakeChannels) fail() error {
	if f.failFor > 0 {
		f.failFor--
		return pipeline.Retryable(errors.New("inbox 503"), 0)
	}
	return nil
}

func (f *fakeChannels) SendAlert(_ context.Context, a pipeline.Alert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(); err != nil {
		return err
	}
	f.singles = append(f.singles, a)
	f.at = append(f.at, time.Now())
	return nil
}

func (f *fakeChannels) SendDigest(_ context.Context, d pipeline.AlertDigest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(); err != nil {
		return err
	}
	f.digests = append(f.digests, d)
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

// TestDigesterSendsSinglesAndOneDigestPerBurst runs publisher and
// digester over kfake: a lone alert is sent by itself; a burst of 50 (with
// the channels failing at first) becomes one digest listing all 50, sent
// once, and the offsets are committed only after it was accepted.
func TestDigesterSendsSinglesAndOneDigestPerBurst(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, schemas.TopicAlerts))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = c.ListenAddrs()
	log := slog.New(slog.DiscardHandler)
	prod, err := kafka.NewProducer(kcfg, "test-producer", log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close(context.Background()) })
	pub := NewPublisher(prod, schemas.TopicAlerts, nil)
	ch := &fakeChannels{}
	d, err := New(kcfg, Config{Quiet: 300 * time.Millisecond, MaxWait: 5 * time.Second, Rule: pipeline.DigestRule{Min: 5, First: 3},
		Backoff: 50 * time.Millisecond, SessionTimeout: 6 * time.Second}, ch, log, nil)
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

	alert := func(i int) pipeline.Alert {
		return pipeline.Alert{ID: fmt.Sprintf("alert_%03d", i), Trigger: pipeline.AlertPriceChange, ProductID: fmt.Sprint(i), Old: "10.00", New: "8.00"}
	}
	if err := pub.SendAlert(ctx, alert(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lone alert", func() bool { s, _ := ch.counts(); return s == 1 })

	ch.mu.Lock()
	ch.failFor = 2
	ch.mu.Unlock()
	for i := 1; i <= 50; i++ {
		if err := pub.SendAlert(ctx, alert(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "one digest", func() bool { _, n := ch.counts(); return n == 1 })
	adm := kadm.NewClient(prod.Client())
	waitFor(t, "offsets committed past the burst", func() bool {
		offs, err := adm.FetchOffsets(ctx, schemas.GroupAlerts)
		if err != nil {
			return false
		}
		o, ok := offs.Lookup(schemas.TopicAlerts, 0)
		return ok && o.At == 51
	})
	singles, digests := ch.counts()
	if singles != 1 || digests != 1 {
		t.Fatalf("%d singles, %d digests; want 1 and 1", singles, digests)
	}
	dg := ch.digests[0]
	if dg.Total != 50 || len(dg.First) != 3 || dg.Counts[pipeline.AlertPriceChange] != 50 {
		t.Fatalf("digest %d alerts, first %d, counts %v", dg.Total, len(dg.First), dg.Counts)
	}
	if lines := len(splitLines(dg.CSV)); lines != 51 {
		t.Fatalf("CSV has %d lines, want header + 50", lines)
	}
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
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, schemas.TopicAlerts))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = c.ListenAddrs()
	log := slog.New(slog.DiscardHandler)
	prod, err := kafka.NewProducer(kcfg, "test-producer", log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close(context.Background()) })
	pub := NewPublisher(prod, schemas.TopicAlerts, func() time.Time { return time.Now().Add(-time.Hour) })
	for i := range 50 {
		if err := pub.SendAlert(t.Context(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}

	ch := &fakeChannels{}
	d, err := New(kcfg, Config{Quiet: 300 * time.Millisecond, MaxWait: 5 * time.Second, Rule: pipeline.DigestRule{Min: 5, First: 3},
		Backoff: 50 * time.Millisecond, SessionTimeout: 6 * time.Second}, ch, log, nil)
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
	waitFor(t, "the backlog sent", func() bool { s, n := ch.counts(); return s+n > 0 })
	time.Sleep(500 * time.Millisecond) // nothing more may follow
	if s, n := ch.counts(); s != 0 || n != 1 {
		t.Fatalf("%d singles, %d digests; want 0 and 1", s, n)
	}
	if got := ch.digests[0].Total; got != 50 {
		t.Fatalf("digest has %d alerts, want 50", got)
	}
}
