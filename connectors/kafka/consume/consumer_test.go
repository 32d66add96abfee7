package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/kafkatest"
)

// These unit tests run the runtime over kfake. They wait on the runtime's
// own signals (handler calls, committed offsets, paused partitions), never
// on sleeps. testing/synctest is not used: kfake talks over real sockets,
// which a synctest bubble cannot treat as durably blocked.

func testCluster(t *testing.T, partitions int32, topics ...string) kafka.Config {
	t.Helper()
	c := kafkatest.Fake(t, kfake.SeedTopics(partitions, topics...))
	cfg := kafka.DefaultConfig()
	cfg.Brokers = c.ListenAddrs()
	cfg.ClientIDPrefix = "consume-test"
	return cfg
}

// produce writes n records to topic/partition with values "<partition>-<i>".
func produce(t *testing.T, cfg kafka.Config, topic string, partition int32, n int, headers ...kgo.RecordHeader) {
	t.Helper()
	cl, err := kafka.NewClient(cfg, "test-producer", slog.New(slog.DiscardHandler), nil,
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Value: fmt.Appendf(nil, "%d-%d", partition, i), Headers: headers}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func admin(t *testing.T, cfg kafka.Config) *kadm.Client {
	t.Helper()
	cl, err := kafka.NewClient(cfg, "test-admin", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// committed is the group's committed offset of topic/partition (0: none).
func committed(ctx context.Context, t *testing.T, adm *kadm.Client, group, topic string, partition int32) int64 {
	t.Helper()
	offs, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, partition); ok && o.At > 0 {
		return o.At
	}
	return 0
}

// eventually polls cond until it holds; the deadline only bounds a broken run.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// start runs a consumer until the test ends (or stop is called).
func start(t *testing.T, kcfg kafka.Config, cfg Config) (*Consumer, func()) {
	t.Helper()
	if cfg.CommitInterval == 0 {
		cfg.CommitInterval = 20 * time.Millisecond
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin, cfg.RetryMax = 5*time.Millisecond, 20*time.Millisecond
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 6 * time.Second
	}
	c, err := New(kcfg, cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

type seen struct {
	mu   sync.Mutex
	recs map[string]int // topic/partition/offset -> times handled
	by   map[string]map[string]bool
}

func newSeen() *seen { return &seen{recs: map[string]int{}, by: map[string]map[string]bool{}} }

func (s *seen) add(member string, r *kgo.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)
	s.recs[k]++
	if s.by[member] == nil {
		s.by[member] = map[string]bool{}
	}
	s.by[member][fmt.Sprintf("%s/%d", r.Topic, r.Partition)] = true
}

func (s *seen) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

func TestTwoMembersSharePartitions(t *testing.T) {
	const topic = "t"
	kcfg := testCluster(t, 4, topic)
	adm := admin(t, kcfg)
	s := newSeen()
	handler := func(member string) RecordHandler {
		return func(_ context.Context, r *kgo.Record) error { s.add(member, r); return nil }
	}
	cfg := Config{Group: "g", Topics: []string{topic}}
	a := cfg
	a.Handle = handler("a")
	start(t, kcfg, a)
	b := cfg
	b.Handle = handler("b")
	start(t, kcfg, b)
	for p := range int32(4) {
		produce(t, kcfg, topic, p, 10)
	}
	eventually(t, "40 records handled", func() bool { return s.count() == 40 })
	eventually(t, "every partition committed to 10", func() bool {
		for p := range int32(4) {
			if committed(t.Context(), t, adm, "g", topic, p) != 10 {
				return false
			}
		}
		return true
	})
}

// TestRevokeCancelsTheHandlerAndTheNewOwnerRereads: member a is stuck in the
// first record of every partition; b joins; the eager range balancer
// revokes a's partitions, a's handlers see their ctx cancelled, nothing is
// committed, and each first record is handled again from offset 0.
func TestRevokeCancelsTheHandlerAndTheNewOwnerRereads(t *testing.T) {
	const topic = "t"
	kcfg := testCluster(t, 2, topic)
	adm := admin(t, kcfg)
	produce(t, kcfg, topic, 0, 3)
	produce(t, kcfg, topic, 1, 3)

	var inHand, cancelled atomic.Int32
	var blocked [2]atomic.Bool // the first call of each partition blocks
	s := newSeen()
	a := Config{Group: "g", Topics: []string{topic}, Balancer: kgo.RangeBalancer(),
		Handle: func(ctx context.Context, r *kgo.Record) error {
			if blocked[r.Partition].Swap(true) {
				s.add("a", r)
				return nil
			}
			inHand.Add(1)
			<-ctx.Done() // stuck until revoked
			cancelled.Add(1)
			return ctx.Err()
		}}
	start(t, kcfg, a)
	eventually(t, "a holds the first record of both partitions", func() bool { return inHand.Load() == 2 })

	b := Config{Group: "g", Topics: []string{topic}, Balancer: kgo.RangeBalancer(),
		Handle: func(_ context.Context, r *kgo.Record) error { s.add("b", r); return nil }}
	start(t, kcfg, b)
	eventually(t, "both handlers cancelled by the revoke", func() bool { return cancelled.Load() == 2 })
	// Offset 0 of each partition is handled once more, so the cancelled
	// handler marked nothing: the new owner re-read from offset 0.
	eventually(t, "all 6 records handled after the revoke", func() bool { return s.count() == 6 })
	s.mu.Lock()
	for p := range 2 {
		if s.recs[fmt.Sprintf("%s/%d/0", topic, p)] != 1 {
			t.Errorf("offset 0 of partition %d handled %d times after the revoke, want 1", p, s.recs[fmt.Sprintf("%s/%d/0", topic, p)])
		}
	}
	s.mu.Unlock()
	eventually(t, "both partitions committed to 3", func() bool {
		return committed(t.Context(), t, adm, "g", topic, 0) == 3 && committed(t.Context(), t, adm, "g", topic, 1) == 3
	})
}

// TestRangeBalancerCoPartitions: with the range balancer, partition p of
// both topics is assigned to one member, seen through OnAssigned, which also
// runs before the partition's first record is handled.
func TestRangeBalancerCoPartitions(t *testing.T) {
	kcfg := testCluster(t, 3, "x", "y")
	var mu sync.Mutex
	owners := map[string]map[int32]string{"x": {}, "y": {}}
	loaded := map[string]bool{}
	var early atomic.Int32
	s := newSeen()
	member := func(name string) Config {
		return Config{Group: "g", Topics: []string{"x", "y"}, Balancer: kgo.RangeBalancer(), CoPartitioned: true,
			OnAssigned: func(_ context.Context, topic string, p int32) error {
				mu.Lock()
				defer mu.Unlock()
				owners[topic][p] = name
				loaded[fmt.Sprintf("%s/%s/%d", name, topic, p)] = true
				return nil
			},
			OnRevoked: func(_ context.Context, topic string, p int32) {
				mu.Lock()
				defer mu.Unlock()
				delete(loaded, fmt.Sprintf("%s/%s/%d", name, topic, p))
			},
			Handle: func(_ context.Context, r *kgo.Record) error {
				mu.Lock()
				ok := loaded[fmt.Sprintf("%s/%s/%d", name, r.Topic, r.Partition)]
				mu.Unlock()
				if !ok {
					early.Add(1)
				}
				s.add(name, r)
				return nil
			}}
	}
	start(t, kcfg, member("a"))
	start(t, kcfg, member("b"))
	for p := range int32(3) {
		produce(t, kcfg, "x", p, 5)
		produce(t, kcfg, "y", p, 5)
	}
	eventually(t, "30 records handled", func() bool { return s.count() == 30 })
	eventually(t, "both members own partitions", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := map[string]bool{}
		for _, o := range owners["x"] {
			n[o] = true
		}
		return n["a"] && n["b"]
	})
	mu.Lock()
	for p := range int32(3) {
		if owners["x"][p] != owners["y"][p] {
			t.Errorf("partition %d: x owned by %q, y by %q", p, owners["x"][p], owners["y"][p])
		}
	}
	mu.Unlock()
	if n := early.Load(); n != 0 {
		t.Errorf("%d records handled before OnAssigned of their partition", n)
	}
}

func TestCoPartitionedRefusesMismatchedTopics(t *testing.T) {
	c := kafkatest.Fake(t, kfake.SeedTopics(3, "x"), kfake.SeedTopics(2, "y"))
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = c.ListenAddrs()
	cons, err := New(kcfg, Config{Group: "g", Topics: []string{"x", "y"}, CoPartitioned: true,
		Handle: func(context.Context, *kgo.Record) error { return nil }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = cons.Run(t.Context())
	if err == nil || !containsAll(err.Error(), "x=3", "y=2") {
		t.Fatalf("Run = %v, want an error naming x=3 and y=2", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !contains(s, sub) {
			return false
		}
	}
	return true
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func paused(c *Consumer, topic string, p int32) bool {
	for _, x := range c.Client().PauseFetchPartitions(nil)[topic] {
		if x == p {
			return true
		}
	}
	return false
}

func TestBacklogPausesAndResumes(t *testing.T) {
	const topic = "t"
	kcfg := testCluster(t, 1, topic)
	produce(t, kcfg, topic, 0, 50)
	release := make(chan struct{})
	var got []int64
	var mu sync.Mutex
	c, _ := start(t, kcfg, Config{Group: "g", Topics: []string{topic}, MaxPending: 8,
		Handle: func(ctx context.Context, r *kgo.Record) error {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			mu.Lock()
			got = append(got, r.Offset)
			mu.Unlock()
			return nil
		}})
	eventually(t, "fetching paused under backlog", func() bool { return paused(c, topic, 0) })
	close(release)
	eventually(t, "50 records handled", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 50 })
	mu.Lock()
	for i, o := range got {
		if o != int64(i) {
			t.Fatalf("record %d has offset %d: out of order", i, o)
		}
	}
	mu.Unlock()
	eventually(t, "fetching resumed", func() bool { return !paused(c, topic, 0) })
}

func TestDueTimeHold(t *testing.T) {
	const topic = "t"
	tests := []struct {
		name    string
		due     time.Duration // after produce
		maxHold time.Duration
		minWait time.Duration // the record is handled no earlier than this after produce
	}{
		{"held until due", 300 * time.Millisecond, 0, 300 * time.Millisecond},
		{"hold capped by MaxHold", time.Hour, 200 * time.Millisecond, 200 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kcfg := testCluster(t, 1, topic)
			produced := time.Now()
			due := produced.Add(tc.due)
			produce(t, kcfg, topic, 0, 1)
			handled := make(chan time.Time, 1)
			c, _ := start(t, kcfg, Config{Group: "g", Topics: []string{topic}, MaxHold: tc.maxHold,
				DueAt: func(*kgo.Record) time.Time { return due },
				Handle: func(context.Context, *kgo.Record) error {
					handled <- time.Now()
					return nil
				}})
			eventually(t, "the partition paused by the hold", func() bool {
				return paused(c, topic, 0) || len(handled) > 0
			})
			at := <-handled
			if wait := at.Sub(produced); wait < tc.minWait {
				t.Fatalf("handled %s after produce, before its hold of %s ended", wait, tc.minWait)
			}
			if tc.maxHold > 0 && at.After(due) {
				t.Fatal("MaxHold did not cap the hold")
			}
		})
	}
}

func TestMarksOnlyAfterTheHandlerSucceeds(t *testing.T) {
	const topic, failures = "t", 3
	kcfg := testCluster(t, 1, topic)
	adm := admin(t, kcfg)
	produce(t, kcfg, topic, 0, 5)
	var calls atomic.Int32
	var committedWhileFailing []int64
	start(t, kcfg, Config{Group: "g", Topics: []string{topic},
		Handle: func(ctx context.Context, r *kgo.Record) error {
			if r.Offset == 2 && calls.Add(1) <= failures {
				committedWhileFailing = append(committedWhileFailing, committed(ctx, t, adm, "g", topic, 0))
				return errors.New("downstream down")
			}
			return nil
		}})
	eventually(t, "all 5 committed", func() bool { return committed(t.Context(), t, adm, "g", topic, 0) == 5 })
	if len(committedWhileFailing) != failures {
		t.Fatalf("%d failures observed, want %d", len(committedWhileFailing), failures)
	}
	for _, c := range committedWhileFailing {
		if c > 2 {
			t.Errorf("committed to %d while offset 2 was failing", c)
		}
	}
}

func TestDeferredMarks(t *testing.T) {
	const topic = "t"
	kcfg := testCluster(t, 1, topic)
	adm := admin(t, kcfg)
	produce(t, kcfg, topic, 0, 4)
	type taken struct {
		r *kgo.Record
		m Marker
	}
	ch := make(chan taken, 4)
	_, stop := start(t, kcfg, Config{Group: "g", Topics: []string{topic},
		HandleDeferred: func(_ context.Context, r *kgo.Record, m Marker) error {
			ch <- taken{r, m}
			return nil
		}})
	var all []taken
	for len(all) < 4 {
		all = append(all, <-ch)
	}
	if got := committed(t.Context(), t, adm, "g", topic, 0); got != 0 {
		t.Fatalf("committed to %d before anything was marked", got)
	}
	if !all[1].m.Mark(all[0].r, all[1].r) {
		t.Fatal("Mark refused while the partition is owned")
	}
	if err := all[1].m.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := committed(t.Context(), t, adm, "g", topic, 0); got != 2 {
		t.Fatalf("committed to %d after marking offsets 0 and 1, want 2", got)
	}
	stop()
	if all[3].m.Mark(all[2].r, all[3].r) {
		t.Error("Mark accepted after the worker stopped")
	}
	if got := committed(t.Context(), t, adm, "g", topic, 0); got != 2 {
		t.Fatalf("committed to %d after shutdown, want 2 (the rest never marked)", got)
	}
}

func TestReadSnapshot(t *testing.T) {
	const topic = "t"
	kcfg := testCluster(t, 2, topic)
	produce(t, kcfg, topic, 0, 5)
	produce(t, kcfg, topic, 1, 3)
	cl, err := kafka.NewClient(kcfg, "reader", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	snap, err := TakeSnapshot(t.Context(), kadm.NewClient(cl), topic, map[int32]int64{0: 2})
	if err != nil {
		t.Fatal(err)
	}
	if n := snap.Records(); n != 6 {
		t.Fatalf("snapshot spans %d records, want 6 (3 of p0 from offset 2, 3 of p1)", n)
	}
	produce(t, kcfg, topic, 0, 4) // after the snapshot: not read
	got := map[int32][]int64{}
	if err := snap.Read(t.Context(), cl, func(r *kgo.Record) error {
		got[r.Partition] = append(got[r.Partition], r.Offset)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got[0]) != "[2 3 4]" || fmt.Sprint(got[1]) != "[0 1 2]" {
		t.Fatalf("read %v, want p0 [2 3 4] and p1 [0 1 2]", got)
	}
}
