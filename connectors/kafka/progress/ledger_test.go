package progress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/connectors/kafka/kafkatest"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/pipeline/pipelinetest"
)

const (
	testPartitions = 3
	alignedTopic   = "orders"
)

// fakeCluster is a kfake broker for one test.
func fakeCluster(t *testing.T) kafka.Config {
	t.Helper()
	c := kafkatest.Fake(t)
	cfg := kafka.DefaultConfig()
	cfg.Brokers = c.ListenAddrs()
	cfg.ClientIDPrefix = "progress-test"
	return cfg
}

// realCluster is the broker of SHOPSTREAM_TEST_KAFKA (skips without it).
func realCluster(t *testing.T) kafka.Config {
	t.Helper()
	cfg := kafka.DefaultConfig()
	cfg.Brokers = kafkatest.Brokers(t)
	cfg.ClientIDPrefix = "progress-it"
	return cfg
}

// topics names and creates one compacted topic per ledger name, once per
// test (on the real broker under a unique prefix, deleted at the end).
type topics struct {
	t      *testing.T
	kcfg   kafka.Config
	broker bool
	mu     sync.Mutex
	made   map[string]string
}

func (tp *topics) topic(name string) string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if n, ok := tp.made[name]; ok {
		return n
	}
	var topic string
	if tp.broker {
		topic = kafkatest.CreateTopic(tp.t, "shopstream.order.progress."+name, testPartitions, map[string]string{"cleanup.policy": "compact"})
	} else {
		topic = "shopstream.order.progress." + name
		cl, err := kafka.NewClient(tp.kcfg, "admin", slog.New(slog.DiscardHandler), nil)
		if err != nil {
			tp.t.Fatal(err)
		}
		defer cl.Close()
		resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), testPartitions, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			tp.t.Fatal(err)
		}
	}
	tp.made[name] = topic
	return topic
}

// openLedger opens a ledger over topic as a processor member owning every
// partition would: OnAssigned for each partition of the aligned topic.
func openLedger(t *testing.T, kcfg kafka.Config, topic string) *Ledger {
	t.Helper()
	l, err := NewLedger(kcfg, LedgerConfig{Topic: topic, Aligned: []string{alignedTopic}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	for p := range int32(testPartitions) {
		if err := l.OnAssigned(t.Context(), alignedTopic, p); err != nil {
			t.Fatalf("OnAssigned(%d): %v", p, err)
		}
	}
	return l
}

func conformance(t *testing.T, kcfg kafka.Config, onBroker bool) {
	tp := &topics{t: t, kcfg: kcfg, broker: onBroker, made: map[string]string{}}
	pipelinetest.LedgerConformance(t, func(t *testing.T, name string) pipeline.OrderLedger {
		return openLedger(t, kcfg, tp.topic(name))
	})
}

func TestLedgerConformanceKfake(t *testing.T) { conformance(t, fakeCluster(t), false) }

func TestLedgerConformanceKafka(t *testing.T) { conformance(t, realCluster(t), true) }

var t0 = time.Date(2026, 11, 21, 15, 2, 11, 0, time.UTC)

func step(order, event, status string, at int) pipeline.OrderStep {
	return pipeline.OrderStep{OrderID: order, EventID: event, Status: status, Rank: pipeline.OrderRank(status),
		UpdatedAt: t0.Add(time.Duration(at) * time.Second)}
}

// readAll reads every record of topic.
func readAll(t *testing.T, kcfg kafka.Config, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kafka.NewClient(kcfg, "reader", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	if err := consume.ReadSnapshot(t.Context(), cl, topic, nil, func(r *kgo.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestClaimWritesIntoTheKeysPartitionBeforeReturning(t *testing.T) {
	kcfg := fakeCluster(t)
	tp := &topics{t: t, kcfg: kcfg, made: map[string]string{}}
	topic := tp.topic("placement")
	l := openLedger(t, kcfg, topic)
	// Where a murmur2 producer (the ingress) puts each order's events.
	part := kgo.StickyKeyPartitioner(nil).ForTopic(alignedTopic)
	var orders []string
	for i := range 20 {
		o := fmt.Sprint(1000 + i)
		orders = append(orders, o)
		if v, err := l.Claim(t.Context(), step(o, "e"+o, "shipped", 0)); err != nil || v != pipeline.OrderSend {
			t.Fatalf("Claim(%s) = %s, %v", o, v, err)
		}
	}
	// Claim returned, so each record is already in the topic.
	recs := readAll(t, kcfg, topic)
	if len(recs) != len(orders) {
		t.Fatalf("%d records in %s, want %d", len(recs), topic, len(orders))
	}
	for _, r := range recs {
		want := int32(part.Partition(&kgo.Record{Key: r.Key}, testPartitions))
		if r.Partition != want {
			t.Errorf("order %s written to partition %d, its events are in %d", r.Key, r.Partition, want)
		}
		s, err := DecodeClaim(string(r.Key), r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if s.EventID != "e"+string(r.Key) || s.Status != "shipped" || s.Rank != pipeline.OrderRank("shipped") || !s.UpdatedAt.Equal(t0) {
			t.Errorf("record of %s = %+v", r.Key, s)
		}
	}
	t.Logf("a value: %d bytes: %s", len(recs[0].Value), recs[0].Value)
}

func TestUnassignedPartitionRefusesToDecide(t *testing.T) {
	kcfg := fakeCluster(t)
	tp := &topics{t: t, kcfg: kcfg, made: map[string]string{}}
	topic := tp.topic("unassigned")
	l, err := NewLedger(kcfg, LedgerConfig{Topic: topic, Aligned: []string{alignedTopic}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	// Another topic's assignment loads nothing.
	if err := l.OnAssigned(t.Context(), "evershop.product", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Claim(t.Context(), step("1001", "e1", "shipped", 0)); !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("Claim before any assignment: %v, want ErrNotLoaded", err)
	}
	// An order outside partition 0.
	part := kgo.StickyKeyPartitioner(nil).ForTopic(alignedTopic)
	order, p := "", int32(0)
	for i := 1000; p == 0; i++ {
		order = fmt.Sprint(i)
		p = int32(part.Partition(&kgo.Record{Key: []byte(order)}, testPartitions))
	}
	if err := l.OnAssigned(t.Context(), alignedTopic, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Claim(t.Context(), step(order, "e1", "shipped", 0)); !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("Claim of partition %d with only 0 loaded: %v, want ErrNotLoaded", p, err)
	}
	if err := l.OnAssigned(t.Context(), alignedTopic, p); err != nil {
		t.Fatal(err)
	}
	if v, err := l.Claim(t.Context(), step(order, "e1", "shipped", 0)); err != nil || v != pipeline.OrderSend {
		t.Fatalf("Claim once loaded = %s, %v", v, err)
	}
	l.OnRevoked(t.Context(), alignedTopic, p)
	if _, err := l.Claim(t.Context(), step(order, "e2", "delivered", 60)); !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("Claim after revoke: %v, want ErrNotLoaded", err)
	}
}

func TestPartitionStaysWhileAnotherAlignedTopicHoldsIt(t *testing.T) {
	kcfg := fakeCluster(t)
	tp := &topics{t: t, kcfg: kcfg, made: map[string]string{}}
	topic := tp.topic("holders")
	l, err := NewLedger(kcfg, LedgerConfig{Topic: topic, Aligned: []string{"orders", "retry.2s"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	// Both aligned topics' workers load partition p concurrently.
	var wg sync.WaitGroup
	for _, a := range []string{"orders", "retry.2s"} {
		for p := range int32(testPartitions) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := l.OnAssigned(t.Context(), a, p); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	p, _ := l.Store().Partition("7")
	l.OnRevoked(t.Context(), "orders", p)
	if v, err := l.Claim(t.Context(), step("7", "e1", "shipped", 0)); err != nil || v != pipeline.OrderSend {
		t.Fatalf("Claim while retry.2s still holds the partition = %s, %v", v, err)
	}
	l.OnRevoked(t.Context(), "retry.2s", p)
	if _, err := l.Claim(t.Context(), step("7", "e2", "delivered", 60)); !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("Claim after the last aligned topic was revoked: %v, want ErrNotLoaded", err)
	}
}

// An older claim written after a newer one (a member that lost the
// partition and still wrote, or a write given up on that landed late) does
// not move the order backwards for the next owner.
func TestLoadKeepsTheNewestClaimNotTheLastRecord(t *testing.T) {
	kcfg := fakeCluster(t)
	tp := &topics{t: t, kcfg: kcfg, made: map[string]string{}}
	topic := tp.topic("merge")
	a := openLedger(t, kcfg, topic)
	if v, err := a.Claim(t.Context(), step("1001", "e2", "shipped", 60)); err != nil || v != pipeline.OrderSend {
		t.Fatalf("claim = %s, %v", v, err)
	}
	// A zombie writes an older claim after it.
	old, err := encodeClaim(step("1001", "e1", "processing", 0), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The record is written; the writer's own memory keeps the newer claim.
	if err := a.Store().Put(t.Context(), "1001", old); !errors.Is(err, ErrOverridden) {
		t.Fatalf("Put of an older claim: %v, want ErrOverridden", err)
	}
	b := openLedger(t, kcfg, topic)
	if v, err := b.Claim(t.Context(), step("1001", "e1", "processing", 0)); err != nil || v != pipeline.OrderSuperseded {
		t.Fatalf("after reload, the older step = %s, %v; want superseded", v, err)
	}
	if v, err := b.Claim(t.Context(), step("1001", "e3", "shipped", 60)); err != nil || v != pipeline.OrderDuplicate {
		t.Fatalf("after reload, another event at the newest step = %s, %v; want duplicate", v, err)
	}
}

func TestAValueOfANewerFormatIsNotDecidedOn(t *testing.T) {
	kcfg := fakeCluster(t)
	tp := &topics{t: t, kcfg: kcfg, made: map[string]string{}}
	topic := tp.topic("version")
	a := openLedger(t, kcfg, topic)
	if err := a.Store().Put(t.Context(), "1001", []byte(`{"v":2,"status":"shipped"}`)); err != nil {
		t.Fatal(err)
	}
	b := openLedger(t, kcfg, topic)
	if v, err := b.Claim(t.Context(), step("1001", "e1", "processing", 0)); !errors.Is(err, errVersion) {
		t.Fatalf("Claim over a v2 value = %s, %v; want an error", v, err)
	}
}

func TestClaimFailsWhileTheBrokerIsUnreachable(t *testing.T) {
	kcfg := fakeCluster(t)
	tp := &topics{t: t, kcfg: kcfg, made: map[string]string{}}
	topic := tp.topic("down")
	l := openLedger(t, kcfg, topic)
	// Point the writer at a dead address by closing its client: every
	// write fails, so Claim must fail rather than report a send.
	l.Store().Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if v, err := l.Claim(ctx, step("1001", "e1", "shipped", 0)); err == nil {
		t.Fatalf("Claim with no broker = %s, want an error", v)
	}
}

func TestKeysGauge(t *testing.T) {
	kcfg := fakeCluster(t)
	tp := &topics{t: t, kcfg: kcfg, made: map[string]string{}}
	topic := tp.topic("gauge")
	reg := prometheus.NewRegistry()
	l, err := NewLedger(kcfg, LedgerConfig{Topic: topic, Aligned: []string{alignedTopic}}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	for p := range int32(testPartitions) {
		if err := l.OnAssigned(t.Context(), alignedTopic, p); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if _, err := l.Claim(t.Context(), step(fmt.Sprint(i), fmt.Sprint("e", i), "shipped", 0)); err != nil {
			t.Fatal(err)
		}
	}
	if got := gauge(t, reg, "shopstream_order_progress_keys"); got != 5 {
		t.Fatalf("shopstream_order_progress_keys = %v, want 5", got)
	}
	for p := range int32(testPartitions) {
		l.OnRevoked(t.Context(), alignedTopic, p)
	}
	if got := gauge(t, reg, "shopstream_order_progress_keys"); got != 0 {
		t.Fatalf("after revoking everything: %v keys, want 0", got)
	}
}

// gauge reads a registered gauge by name.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("%s is not registered", name)
	return 0
}

// A member that lost the partition (a zombie: cut off from the group but
// still reaching the broker) and the new owner both claim. Whichever writes
// second sees the other's record at the offsets it skipped, reads it back,
// and decides over the newest claim: the zombie's older step is superseded,
// not sent.
func TestASecondWriterReadsTheFirstBackBeforeDeciding(t *testing.T) {
	kcfg := fakeCluster(t)
	tp := &topics{t: t, kcfg: kcfg, made: map[string]string{}}
	topic := tp.topic("zombie")
	zombie := openLedger(t, kcfg, topic)
	owner := openLedger(t, kcfg, topic)
	if v, err := owner.Claim(t.Context(), step("1001", "e2", "shipped", 60)); err != nil || v != pipeline.OrderSend {
		t.Fatalf("owner's claim = %s, %v", v, err)
	}
	if v, err := zombie.Claim(t.Context(), step("1001", "e1", "processing", 0)); err != nil || v != pipeline.OrderSuperseded {
		t.Fatalf("zombie's older claim after the owner's = %s, %v; want superseded", v, err)
	}
	// The zombie now knows the newest claim; a newer step still goes out.
	if v, err := zombie.Claim(t.Context(), step("1001", "e3", "delivered", 120)); err != nil || v != pipeline.OrderSend {
		t.Fatalf("zombie's newer claim = %s, %v; want send", v, err)
	}
	// A fresh load keeps the newest (delivered), whatever the last record.
	fresh := openLedger(t, kcfg, topic)
	if v, err := fresh.Claim(t.Context(), step("1001", "e2", "shipped", 60)); err != nil || v != pipeline.OrderSuperseded {
		t.Fatalf("shipped after reload = %s, %v; want superseded", v, err)
	}
}
