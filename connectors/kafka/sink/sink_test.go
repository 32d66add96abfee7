package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/kafkatest"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// These are unit tests of the sink's Kafka glue over kfake, which can fail
// offset commits on demand. The sink against the real broker and the real
// ClickHouse is covered by cmd/shopstream's TestIntegrationAnalytics* tests
// and BenchmarkSinkThroughput.

// sinkFakeStore is an OutcomeStore that records every WriteOutcomes call
// (accepted or not), lets a test fail calls and refuses chosen rows.
type sinkFakeStore struct {
	mu       sync.Mutex
	calls    [][]pipeline.Outcome // every call, in order
	accepted [][]pipeline.Outcome // the rows written by calls that returned no error
	// fail, when set, decides a call's result from its number (0-based).
	fail func(call int, rows []pipeline.Outcome) error
	// reject, when set, refuses a row for good (the store's bisection,
	// faked): a non-nil error leaves the row out and reports it.
	reject func(o pipeline.Outcome) error
}

func (s *sinkFakeStore) WriteOutcomes(_ context.Context, rows []pipeline.Outcome) (map[int]error, error) {
	// The sink reuses its batch slice; a store must not keep it.
	rows = slices.Clone(rows)
	s.mu.Lock()
	call := len(s.calls)
	s.calls = append(s.calls, rows)
	fail, reject := s.fail, s.reject
	s.mu.Unlock()
	if fail != nil {
		if err := fail(call, rows); err != nil {
			return nil, err
		}
	}
	rejected := map[int]error{}
	written := make([]pipeline.Outcome, 0, len(rows))
	for i, o := range rows {
		if reject != nil {
			if err := reject(o); err != nil {
				rejected[i] = err
				continue
			}
		}
		written = append(written, o)
	}
	s.mu.Lock()
	s.accepted = append(s.accepted, written)
	s.mu.Unlock()
	return rejected, nil
}

func (s *sinkFakeStore) snapshot() (calls, accepted [][]pipeline.Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls), slices.Clone(s.accepted)
}

// acceptedIDs counts how often each event id was accepted.
func (s *sinkFakeStore) acceptedIDs() map[string]int {
	_, accepted := s.snapshot()
	ids := map[string]int{}
	for _, b := range accepted {
		for _, o := range b {
			ids[o.EventID]++
		}
	}
	return ids
}

func (s *sinkFakeStore) acceptedRows() int {
	n := 0
	for _, c := range s.acceptedIDs() {
		n += c
	}
	return n
}

// sinkCluster starts a one-broker kfake cluster with evershop.events in
// three partitions.
func sinkCluster(t *testing.T) (*kfake.Cluster, kafka.Config) {
	t.Helper()
	c := kafkatest.Fake(t, kfake.SeedTopics(3, schemas.TopicEvents), kfake.SeedTopics(1, schemas.TopicEventsDLQ))
	cfg := kafka.DefaultConfig()
	cfg.Brokers = c.ListenAddrs()
	cfg.ClientIDPrefix = "shopstream-sink-test"
	return c, cfg
}

// sinkAdmin is a kadm client on the cluster, for reading committed offsets.
func sinkAdmin(t *testing.T, cfg kafka.Config) *kadm.Client {
	t.Helper()
	cl, err := kafka.NewClient(cfg, "sink-test-admin", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// sinkCommitted is the sum of the group's committed offsets on
// evershop.events: with every partition starting at 0, the number of
// records the group has committed past.
func sinkCommitted(t *testing.T, adm *kadm.Client, group string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	offsets, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return 0 // kfake: a group that never committed
	}
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	var sum int64
	offsets.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			t.Fatalf("offset of %s %s/%d: %v", group, o.Topic, o.Partition, o.Err)
		}
		if o.Topic == schemas.TopicEvents && o.At > 0 {
			sum += o.At
		}
	})
	return sum
}

// sinkOutcome is a valid outcome record value.
func sinkOutcome(id string) pipeline.Outcome {
	now := time.Now().UTC()
	return pipeline.Outcome{EventID: id, EventType: pipeline.OrderUpdated, EntityID: "1001",
		Status: pipeline.StatusCompleted, Attempt: 1, ReceivedAt: now.Add(-time.Second), ProcessedAt: now,
		ProcessingMs: 12.5, Topic: schemas.TopicOrder, Partition: 2, Offset: 42}
}

// sinkProduce writes values to evershop.events, keyed like OutcomeWriter
// does, and waits for the acks.
func sinkProduce(t *testing.T, cfg kafka.Config, values ...[]byte) {
	t.Helper()
	cl, err := kafka.NewClient(cfg, "sink-test-producer", slog.New(slog.DiscardHandler), nil,
		kgo.DefaultProduceTopic(schemas.TopicEvents))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "k-%d", i), Value: v}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// sinkProduceOutcomes writes n valid outcomes with ids prefix-0..n-1 and
// returns the ids.
func sinkProduceOutcomes(t *testing.T, cfg kafka.Config, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	values := make([][]byte, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		v, err := json.Marshal(sinkOutcome(ids[i]))
		if err != nil {
			t.Fatal(err)
		}
		values[i] = v
	}
	sinkProduce(t, cfg, values...)
	return ids
}

// sinkRun runs s until the returned stop is called (or the test ends) and
// returns what Run returned.
func sinkRun(t *testing.T, s *Sink) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("sink did not stop within 30s")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return stop
}

func sinkNew(t *testing.T, kcfg kafka.Config, cfg Config, store OutcomeStore) *Sink {
	t.Helper()
	if cfg.Group == "" {
		cfg.Group = "sink-test-" + t.Name()
	}
	s, err := New(t.Context(), kcfg, cfg, store, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sinkEventually polls cond every 10ms until it holds or timeout passes.
func sinkEventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sinkSizes(batches [][]pipeline.Outcome) []int {
	out := make([]int, len(batches))
	for i, b := range batches {
		out[i] = len(b)
	}
	return out
}

func TestSinkFlushesFullBatches(t *testing.T) {
	_, kcfg := sinkCluster(t)
	adm := sinkAdmin(t, kcfg)
	ids := sinkProduceOutcomes(t, kcfg, "size", 25)
	store := &sinkFakeStore{}
	// An interval far beyond the test's deadlines: only size can flush.
	s := sinkNew(t, kcfg, Config{BatchSize: 10, FlushInterval: time.Minute}, store)
	stop := sinkRun(t, s)

	sinkEventually(t, 20*time.Second, "two full batches", func() bool {
		_, accepted := store.snapshot()
		return len(accepted) >= 2
	})
	_, accepted := store.snapshot()
	if got := sinkSizes(accepted); !slices.Equal(got, []int{10, 10}) {
		t.Fatalf("batch sizes before stop = %v, want [10 10]", got)
	}
	sinkEventually(t, 10*time.Second, "the two batches committed", func() bool { return sinkCommitted(t, adm, s.cfg.Group) == 20 })

	// Stopping flushes the partial batch in hand and commits it.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, accepted = store.snapshot()
	if got := sinkSizes(accepted); !slices.Equal(got, []int{10, 10, 5}) {
		t.Fatalf("batch sizes after stop = %v, want [10 10 5]", got)
	}
	if got := sinkCommitted(t, adm, s.cfg.Group); got != 25 {
		t.Fatalf("committed %d records after stop, want 25", got)
	}
	seen := store.acceptedIDs()
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("%s inserted %d times, want 1", id, seen[id])
		}
	}
	if got := testutil.ToFloat64(s.m.rows); got != 25 {
		t.Errorf("rows written = %v, want 25", got)
	}
}

func TestSinkFlushesOnInterval(t *testing.T) {
	_, kcfg := sinkCluster(t)
	adm := sinkAdmin(t, kcfg)
	store := &sinkFakeStore{}
	s := sinkNew(t, kcfg, Config{BatchSize: 1000, FlushInterval: 100 * time.Millisecond}, store)
	sinkRun(t, s)

	// Two bursts far below the batch size: each is flushed and committed
	// while the sink keeps running.
	for round, n := range []int{7, 3} {
		sinkProduceOutcomes(t, kcfg, fmt.Sprintf("interval-%d", round), n)
		want := []int{7, 3}[:round+1]
		total := int64(0)
		for _, w := range want {
			total += int64(w)
		}
		sinkEventually(t, 20*time.Second, fmt.Sprintf("%d rows inserted", total), func() bool { return store.acceptedRows() == int(total) })
		sinkEventually(t, 10*time.Second, fmt.Sprintf("%d records committed", total), func() bool { return sinkCommitted(t, adm, s.cfg.Group) == total })
	}
	_, accepted := store.snapshot()
	for _, b := range accepted {
		if len(b) >= 1000 {
			t.Fatalf("a batch of %d rows: not flushed by interval", len(b))
		}
	}
}

func TestSinkRetriesTheSameBatchAndCommitsOnlyAfterSuccess(t *testing.T) {
	const failures = 3
	_, kcfg := sinkCluster(t)
	adm := sinkAdmin(t, kcfg)
	ids := sinkProduceOutcomes(t, kcfg, "retry", 20)
	group := "sink-test-retry"
	var committedDuringFailures []int64
	store := &sinkFakeStore{fail: func(call int, _ []pipeline.Outcome) error {
		if call >= failures {
			return nil
		}
		// The store is down: nothing may have been committed yet.
		committedDuringFailures = append(committedDuringFailures, sinkCommitted(t, adm, group))
		return pipeline.Retryable(errors.New("clickhouse: connection refused"), 0)
	}}
	s := sinkNew(t, kcfg, Config{Group: group, BatchSize: 1000, FlushInterval: 100 * time.Millisecond}, store)
	sinkRun(t, s)

	sinkEventually(t, 30*time.Second, "every row inserted after the failures", func() bool { return store.acceptedRows() == len(ids) })
	sinkEventually(t, 10*time.Second, "every record committed", func() bool { return sinkCommitted(t, adm, group) == int64(len(ids)) })

	calls, accepted := store.snapshot()
	if len(calls) < failures+1 {
		t.Fatalf("%d insert calls, want at least %d", len(calls), failures+1)
	}
	// The failed batch is retried as is: the same rows, in the same order,
	// until the store takes it.
	for i := 1; i <= failures; i++ {
		if !slices.EqualFunc(calls[i], calls[0], func(a, b pipeline.Outcome) bool { return a.EventID == b.EventID }) {
			t.Fatalf("call %d carried %d rows %v..., not the failed batch of %d rows", i, len(calls[i]), calls[i][0].EventID, len(calls[0]))
		}
	}
	if len(accepted[0]) != len(calls[0]) {
		t.Fatalf("first accepted batch has %d rows, the failed one %d", len(accepted[0]), len(calls[0]))
	}
	for i, c := range committedDuringFailures {
		if c != 0 {
			t.Errorf("failure %d: %d records committed while the store was failing, want 0", i, c)
		}
	}
	if len(committedDuringFailures) != failures {
		t.Errorf("observed %d failures, want %d", len(committedDuringFailures), failures)
	}
	if got := testutil.ToFloat64(s.m.fails); got != failures {
		t.Errorf("insert failures = %v, want %d", got, failures)
	}
	if got := testutil.ToFloat64(s.m.rows); got != float64(len(ids)) {
		t.Errorf("rows written = %v, want %d", got, len(ids))
	}
	for id, n := range store.acceptedIDs() {
		if n != 1 {
			t.Errorf("%s accepted %d times, want 1", id, n)
		}
	}
}

// sinkRefusal is a store refusal that names its reason, like the
// ClickHouse connector's RowError.
type sinkRefusal struct{ reason string }

func (e sinkRefusal) Error() string            { return "refused: " + e.reason }
func (e sinkRefusal) QuarantineReason() string { return e.reason }

// sinkQuarantined reads n records of the quarantine topic, or fails.
func sinkQuarantined(t *testing.T, cfg kafka.Config, n int) []*kgo.Record {
	t.Helper()
	cl, err := kafka.NewClient(cfg, "sink-test-dlq-reader", slog.New(slog.DiscardHandler), nil,
		kgo.ConsumeTopics(schemas.TopicEventsDLQ), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d of %d quarantined records after 20s", len(recs), n)
		}
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// TestSinkQuarantinesWhatTheStoreCannotHold: records that are no outcome
// and rows the store refuses for good go to shopstream.events.dlq, byte for
// byte with headers saying why; every other row is written once; every
// record is committed past, so nothing stalls the partition.
func TestSinkQuarantinesWhatTheStoreCannotHold(t *testing.T) {
	_, kcfg := sinkCluster(t)
	adm := sinkAdmin(t, kcfg)
	valid := func(id string) []byte {
		b, err := json.Marshal(sinkOutcome(id))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	values := [][]byte{
		valid("ok-a"),
		[]byte("not json"),
		valid("ok-b"),
		[]byte(`{"event_type":"order.updated","status":"completed"}`), // no event id
		valid("poison-1"),
		[]byte(`null`),
		[]byte(`{"event_id":"bad-attempt","attempt":"one"}`), // wrong type
		valid("ok-c"),
		valid("poison-2"),
	}
	sinkProduce(t, kcfg, values...)
	store := &sinkFakeStore{reject: func(o pipeline.Outcome) error {
		if strings.HasPrefix(o.EventID, "poison") {
			return sinkRefusal{"type_mismatch"}
		}
		return nil
	}}
	failedAt := time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)
	s := sinkNew(t, kcfg, Config{BatchSize: 1000, FlushInterval: 100 * time.Millisecond, Now: func() time.Time { return failedAt }}, store)
	sinkRun(t, s)

	sinkEventually(t, 20*time.Second, "all 9 records committed", func() bool { return sinkCommitted(t, adm, s.cfg.Group) == 9 })
	got := store.acceptedIDs()
	want := map[string]int{"ok-a": 1, "ok-b": 1, "ok-c": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("written %v, want %v", got, want)
	}
	reasons := map[string]string{} // value -> reason
	for _, r := range sinkQuarantined(t, kcfg, 6) {
		v := string(r.Value)
		reasons[v] = kafka.Header(r, schemas.HeaderErrorReason)
		if !slices.ContainsFunc(values, func(b []byte) bool { return string(b) == v }) {
			t.Errorf("quarantined a value that was not produced: %q", v)
			continue
		}
		if kafka.Header(r, schemas.HeaderOriginalTopic) != schemas.TopicEvents || kafka.Header(r, schemas.HeaderOriginalOffset) == "" ||
			kafka.Header(r, schemas.HeaderOriginalPartition) == "" || kafka.Header(r, schemas.HeaderError) == "" ||
			kafka.Header(r, schemas.HeaderFailedAt) != kafka.FormatTime(failedAt) || !strings.HasPrefix(string(r.Key), "k-") {
			t.Errorf("quarantined %q: key %q, headers %v", v, r.Key, r.Headers)
		}
	}
	wantReasons := map[string]string{
		"not json": "undecodable",
		`{"event_type":"order.updated","status":"completed"}`: "missing_event_id",
		"null": "missing_event_id",
		`{"event_id":"bad-attempt","attempt":"one"}`: "undecodable",
		string(values[4]): "type_mismatch",
		string(values[8]): "type_mismatch",
	}
	if fmt.Sprint(reasons) != fmt.Sprint(wantReasons) {
		t.Errorf("quarantine reasons\n got %v\nwant %v", reasons, wantReasons)
	}
	for reason, n := range map[string]float64{"undecodable": 2, "missing_event_id": 2, "type_mismatch": 2} {
		if got := testutil.ToFloat64(s.m.quarantined.WithLabelValues(reason)); got != n {
			t.Errorf("shopstream_sink_quarantined_total{reason=%q} = %v, want %v", reason, got, n)
		}
	}
	if n := testutil.ToFloat64(s.m.bad); n != 4 {
		t.Errorf("invalid records counted = %v, want 4", n)
	}
	if n := testutil.ToFloat64(s.m.rows); n != 3 {
		t.Errorf("rows written = %v, want 3", n)
	}
	if n := testutil.ToFloat64(s.m.fails); n != 0 {
		t.Errorf("insert failures = %v, want 0: a refused row is no outage", n)
	}
}

// TestSinkHoldsTheBatchWhileTheQuarantineIsUnavailable: while the broker
// refuses the quarantine write, the batch is not committed (its good rows
// may be written again, harmlessly); once it accepts, everything is.
func TestSinkHoldsTheBatchWhileTheQuarantineIsUnavailable(t *testing.T) {
	c, kcfg := sinkCluster(t)
	kcfg.PublishTimeout = 2 * time.Second
	adm := sinkAdmin(t, kcfg)
	details, err := adm.ListTopics(t.Context(), schemas.TopicEventsDLQ)
	if err != nil {
		t.Fatal(err)
	}
	dlqID := details[schemas.TopicEventsDLQ].ID
	var refuse atomic.Bool
	var refused atomic.Int64
	refuse.Store(true)
	c.ControlKey(kmsg.Produce.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		// Produce v13+ names topics by id.
		if !refuse.Load() || len(req.Topics) == 0 || (req.Topics[0].Topic != schemas.TopicEventsDLQ && req.Topics[0].TopicID != dlqID) {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotEnoughReplicas.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		refused.Add(1)
		return resp, nil, true
	})
	ok, err := json.Marshal(sinkOutcome("held-ok"))
	if err != nil {
		t.Fatal(err)
	}
	sinkProduce(t, kcfg, ok, []byte("not json"))
	store := &sinkFakeStore{}
	s := sinkNew(t, kcfg, Config{BatchSize: 1000, FlushInterval: 100 * time.Millisecond, RetryMax: 500 * time.Millisecond}, store)
	sinkRun(t, s)

	sinkEventually(t, 30*time.Second, "refused quarantine writes", func() bool { return refused.Load() >= 3 })
	if got := sinkCommitted(t, adm, s.cfg.Group); got != 0 {
		t.Fatalf("%d records committed while the quarantine write was refused", got)
	}
	refuse.Store(false)
	sinkEventually(t, 30*time.Second, "both records committed", func() bool { return sinkCommitted(t, adm, s.cfg.Group) == 2 })
	if recs := sinkQuarantined(t, kcfg, 1); string(recs[0].Value) != "not json" {
		t.Errorf("quarantined %q", recs[0].Value)
	}
	if got := store.acceptedIDs()["held-ok"]; got < 1 {
		t.Errorf("held-ok written %d times, want at least 1", got)
	}
}

// sinkFailCommits makes the cluster refuse every OffsetCommit with a
// non-retriable error while on is true, and counts the refusals.
func sinkFailCommits(c *kfake.Cluster, on *atomic.Bool, refused *atomic.Int64) {
	c.ControlKey(kmsg.OffsetCommit.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !on.Load() {
			return nil, nil, false
		}
		req := kreq.(*kmsg.OffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		refused.Add(1)
		return resp, nil, true
	})
}

func TestSinkRedeliversABatchInsertedButNotCommitted(t *testing.T) {
	c, kcfg := sinkCluster(t)
	adm := sinkAdmin(t, kcfg)
	var failCommits atomic.Bool
	var refused atomic.Int64
	failCommits.Store(true)
	sinkFailCommits(c, &failCommits, &refused)
	ids := sinkProduceOutcomes(t, kcfg, "redeliver", 10)
	store := &sinkFakeStore{}
	cfg := Config{Group: "sink-test-redeliver", BatchSize: 1000, FlushInterval: 100 * time.Millisecond}

	// First run: the rows reach the store, the commit does not reach Kafka,
	// then the sink goes away (as a crash after the insert would).
	first := sinkNew(t, kcfg, cfg, store)
	stop := sinkRun(t, first)
	sinkEventually(t, 20*time.Second, "the first run inserted every row", func() bool { return store.acceptedRows() == len(ids) })
	sinkEventually(t, 10*time.Second, "a refused commit", func() bool { return refused.Load() > 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := sinkCommitted(t, adm, cfg.Group); got != 0 {
		t.Fatalf("%d records committed though every commit was refused", got)
	}

	// Second run, commits work again: the same records are delivered and
	// inserted again (webhook_events collapses them), then committed.
	failCommits.Store(false)
	second := sinkNew(t, kcfg, cfg, store)
	sinkRun(t, second)
	sinkEventually(t, 30*time.Second, "the second run re-inserted every row", func() bool { return store.acceptedRows() == 2*len(ids) })
	sinkEventually(t, 10*time.Second, "every record committed", func() bool { return sinkCommitted(t, adm, cfg.Group) == int64(len(ids)) })
	seen := store.acceptedIDs()
	for _, id := range ids {
		if seen[id] != 2 {
			t.Errorf("%s inserted %d times, want 2 (once per run)", id, seen[id])
		}
	}
}

func TestSinkStoppingDuringAnOutageCommitsNothing(t *testing.T) {
	_, kcfg := sinkCluster(t)
	adm := sinkAdmin(t, kcfg)
	sinkProduceOutcomes(t, kcfg, "outage", 5)
	store := &sinkFakeStore{fail: func(int, []pipeline.Outcome) error {
		return pipeline.Retryable(errors.New("clickhouse: connection refused"), 0)
	}}
	s := sinkNew(t, kcfg, Config{BatchSize: 1000, FlushInterval: 100 * time.Millisecond}, store)
	stop := sinkRun(t, s)
	sinkEventually(t, 20*time.Second, "a failed insert", func() bool { return testutil.ToFloat64(s.m.fails) > 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := sinkCommitted(t, adm, s.cfg.Group); got != 0 {
		t.Fatalf("%d records committed though no insert succeeded", got)
	}
	if got := store.acceptedRows(); got != 0 {
		t.Fatalf("%d rows accepted by a store that always fails", got)
	}
}
