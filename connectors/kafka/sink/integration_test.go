package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/kafkatest"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// The sink against the real broker and the real ClickHouse (its store is
// the ClickHouse connector, wired here as cmd wires it): a poisoned row is
// quarantined while the rest of its batch lands, and a ClickHouse restart
// mid-stream loses and duplicates nothing.
//
//	SHOPSTREAM_TEST_KAFKA=127.0.0.1:9092 SHOPSTREAM_TEST_CLICKHOUSE=clickhouse://127.0.0.1:9000/default \
//	  go test -run Integration ./connectors/kafka/sink/

// itPoisonID is the event id the poisoned table refuses on the server.
const itPoisonID = "it-poison"

// itDSN is the DSN of SHOPSTREAM_TEST_CLICKHOUSE, or skips.
func itDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("SHOPSTREAM_TEST_CLICKHOUSE")
	switch {
	case dsn == "":
		t.Skip("SHOPSTREAM_TEST_CLICKHOUSE is not set; start ClickHouse (deploy/local/clickhouse.sh start) and set it to a DSN")
	case !strings.Contains(dsn, "://"):
		dsn = "clickhouse://127.0.0.1:9000/default"
	}
	return dsn
}

// itStore opens a migrated database of the test's own, dropped at cleanup,
// whose webhook_events refuses any row with event id itPoisonID on the
// server (a MATERIALIZED column that throws, code 395): a stand-in for any
// value ClickHouse cannot take.
func itStore(t *testing.T) *clickhouse.Store {
	t.Helper()
	dsn := itDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	quiet := clickhouse.WithLogger(slog.New(slog.DiscardHandler))
	admin, err := clickhouse.Open(ctx, dsn, quiet, clickhouse.WithDatabase("default"))
	if err != nil {
		t.Fatalf("SHOPSTREAM_TEST_CLICKHOUSE=%s: %v", dsn, err)
	}
	db := "it_sink_" + strings.Trim(strings.TrimPrefix(kafkatest.UniquePrefix(), kafkatest.TopicPrefix), "-")
	if err := admin.Conn().Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("drop database %s: %v", db, err)
		}
		_ = admin.Close()
	})
	s, err := clickhouse.Open(ctx, dsn, quiet, clickhouse.WithDatabase(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Conn().Exec(ctx, "ALTER TABLE webhook_events ADD COLUMN poison UInt8 MATERIALIZED throwIf(event_id = '"+itPoisonID+"')"); err != nil {
		t.Fatalf("add poison column: %v", err)
	}
	return s
}

// itCount runs a SELECT count() style query; an error (ClickHouse away)
// reads as -1.
func itCount(s *clickhouse.Store, query string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n uint64
	if err := s.Conn().QueryRow(ctx, query).Scan(&n); err != nil {
		return -1
	}
	return int64(n)
}

// itSetup gives a test its own evershop.events and quarantine topics (3 and
// 1 partitions) on the real broker, a producer on the first and the Kafka
// config.
func itSetup(t *testing.T) (kcfg kafka.Config, events, dlq string, produce func(...*kgo.Record)) {
	t.Helper()
	kcfg = kafka.DefaultConfig()
	kcfg.Brokers = kafkatest.Brokers(t)
	kcfg.ClientIDPrefix = "shopstream-sink-it"
	events = kafkatest.CreateTopic(t, schemas.TopicEvents, 3, nil)
	dlq = kafkatest.CreateTopic(t, schemas.TopicEventsDLQ, 1, nil)
	cl := kafkatest.NewClient(t, kgo.DefaultProduceTopic(events))
	produce = func(recs ...*kgo.Record) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	return kcfg, events, dlq, produce
}

// itRecords encodes outcomes as OutcomeWriter does: keyed by event id.
func itRecords(t *testing.T, outs ...pipeline.Outcome) []*kgo.Record {
	t.Helper()
	recs := make([]*kgo.Record, len(outs))
	for i, o := range outs {
		v, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = &kgo.Record{Key: []byte(o.EventID), Value: v}
	}
	return recs
}

// itOutcomes are n distinct completed outcomes, ids prefix-0...
func itOutcomes(prefix string, n int) []pipeline.Outcome {
	now := time.Now().UTC().Truncate(time.Millisecond)
	out := make([]pipeline.Outcome, n)
	for i := range out {
		out[i] = pipeline.Outcome{EventID: fmt.Sprintf("%s-%d", prefix, i), EventType: pipeline.OrderUpdated,
			EntityID: fmt.Sprint(1000 + i), Status: pipeline.StatusCompleted, Attempt: 1,
			ReceivedAt: now.Add(-time.Second), ProcessedAt: now, ProcessingMs: 3.5,
			Topic: schemas.TopicOrder, Partition: int32(i % 3), Offset: int64(i)}
	}
	return out
}

// itCommitted is the sum of group's committed offsets on topic (-1 when
// they cannot be read).
func itCommitted(adm *kadm.Client, group, topic string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offsets, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return -1
	}
	var sum int64
	offsets.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.Topic == topic && o.At > 0 {
			sum += o.At
		}
	})
	return sum
}

// itWait polls cond until it holds or timeout passes.
func itWait(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// itRun runs s until the test ends.
func itRun(t *testing.T, s *Sink) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sink: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("sink did not stop within 30s")
		}
	})
}

// TestIntegrationSinkQuarantinesPoisonedRow: one batch of 300 outcomes
// with a row the server refuses, a row the writer refuses (a time DateTime
// cannot hold) and a record that is no outcome. The 300 good rows land
// exactly once, the three go to the quarantine topic with their reasons,
// and every record is committed.
func TestIntegrationSinkQuarantinesPoisonedRow(t *testing.T) {
	store := itStore(t)
	kcfg, events, dlq, produce := itSetup(t)
	good := itOutcomes("good", 300)
	serverBad := itOutcomes(itPoisonID, 1)[0]
	serverBad.EventID = itPoisonID
	clientBad := itOutcomes("far-future", 1)[0]
	clientBad.ProcessedAt = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	recs := itRecords(t, append(append(good[:150:150], serverBad, clientBad), good[150:]...)...)
	recs = append(recs, &kgo.Record{Key: []byte("junk"), Value: []byte("{not an outcome")})
	produce(recs...)
	total := int64(len(recs))

	group := "it-sink-" + t.Name()
	s, err := New(t.Context(), kcfg, Config{Group: group, Topic: events, QuarantineTopic: dlq, FlushInterval: 300 * time.Millisecond},
		store, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	itRun(t, s)

	adm := kafkatest.Admin(t)
	itWait(t, 60*time.Second, fmt.Sprintf("%d records committed", total), func() bool { return itCommitted(adm, group, events) == total })
	if n := itCount(store, "SELECT count() FROM webhook_events FINAL"); n != int64(len(good)) {
		t.Errorf("webhook_events FINAL has %d rows, want %d", n, len(good))
	}
	if n := itCount(store, "SELECT uniqExact(event_id) FROM webhook_events WHERE event_id LIKE 'good-%'"); n != int64(len(good)) {
		t.Errorf("%d distinct good events in webhook_events, want %d", n, len(good))
	}
	reasons := map[string]string{}
	for _, r := range kafkatest.NewConsumer(t, dlq).Read(3, 20*time.Second) {
		reasons[string(r.Key)] = kafka.Header(r, schemas.HeaderErrorReason)
		if kafka.Header(r, schemas.HeaderOriginalTopic) != events || kafka.Header(r, schemas.HeaderError) == "" {
			t.Errorf("quarantined %s: headers %v", r.Key, r.Headers)
		}
	}
	want := map[string]string{itPoisonID: "function_throw_if_value_is_non_zero", "far-future-0": "value_out_of_range", "junk": "undecodable"}
	if fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Errorf("quarantined %v, want %v", reasons, want)
	}
	for _, reason := range want {
		if n := testutil.ToFloat64(s.m.quarantined.WithLabelValues(reason)); n != 1 {
			t.Errorf("shopstream_sink_quarantined_total{reason=%q} = %v, want 1", reason, n)
		}
	}
	if n := testutil.ToFloat64(s.m.fails); n != 0 {
		t.Errorf("%v insert failures: a poisoned row must not count as ClickHouse being away", n)
	}
}

// itClickHouseCtl runs deploy/local/clickhouse.sh verb against the server
// of the test DSN: its native port from the DSN, its HTTP port from
// CLICKHOUSE_HTTP_PORT.
func itClickHouseCtl(t *testing.T, dsn, verb string) error {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		return err
	}
	root, err := kafkatest.RepoRoot()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "deploy", "local", "clickhouse.sh"), verb)
	cmd.Env = append(os.Environ(), "CLICKHOUSE_TCP_PORT="+u.Port())
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("clickhouse.sh %s (%s): %s", verb, time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(out)))
	if err != nil {
		return fmt.Errorf("clickhouse.sh %s: %w", verb, err)
	}
	return nil
}

// TestIntegrationSinkRidesOutClickHouseRestart stops ClickHouse while
// outcomes flow, keeps it down for SHOPSTREAM_TEST_CLICKHOUSE_OUTAGE
// (default 30s) and starts it again: nothing is committed past what was
// written, nothing is quarantined, and afterwards every outcome is in
// webhook_events exactly once. It stops the server it is given, so it runs
// only when asked: SHOPSTREAM_TEST_CLICKHOUSE_RESTART=1, with
// CLICKHOUSE_HTTP_PORT set as when deploy/local/clickhouse.sh of this
// checkout started that server.
func TestIntegrationSinkRidesOutClickHouseRestart(t *testing.T) {
	if os.Getenv("SHOPSTREAM_TEST_CLICKHOUSE_RESTART") != "1" || os.Getenv("CLICKHOUSE_HTTP_PORT") == "" {
		t.Skip("stops and starts ClickHouse: set SHOPSTREAM_TEST_CLICKHOUSE_RESTART=1 and CLICKHOUSE_HTTP_PORT for the server deploy/local/clickhouse.sh started from this checkout")
	}
	outage := 30 * time.Second
	if v := os.Getenv("SHOPSTREAM_TEST_CLICKHOUSE_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SHOPSTREAM_TEST_CLICKHOUSE_OUTAGE: %v", err)
		}
		outage = d
	}
	dsn := itDSN(t)
	if err := itClickHouseCtl(t, dsn, "status"); err != nil {
		t.Skipf("the test ClickHouse is not one deploy/local/clickhouse.sh manages from this checkout: %v", err)
	}
	t.Cleanup(func() {
		// Whatever happened, leave ClickHouse running.
		if err := itClickHouseCtl(t, dsn, "start"); err != nil {
			t.Errorf("start ClickHouse: %v", err)
		}
	})
	store := itStore(t)
	kcfg, events, dlq, produce := itSetup(t)
	group := "it-sink-" + t.Name()
	s, err := New(t.Context(), kcfg, Config{Group: group, Topic: events, QuarantineTopic: dlq, BatchSize: 100, FlushInterval: 200 * time.Millisecond},
		store, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	itRun(t, s)
	adm := kafkatest.Admin(t)

	before := itOutcomes("before", 200)
	produce(itRecords(t, before...)...)
	itWait(t, 60*time.Second, "the first 200 committed", func() bool { return itCommitted(adm, group, events) == 200 })

	if err := itClickHouseCtl(t, dsn, "stop"); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	during := itOutcomes("during", 500)
	for i := 0; i < len(during); i += 50 {
		produce(itRecords(t, during[i:i+50]...)...)
	}
	itWait(t, outage+30*time.Second, "failed inserts while ClickHouse is down", func() bool { return testutil.ToFloat64(s.m.fails) >= 2 })
	for time.Since(down) < outage { // the length of the fault, not a wait for a result
		if c := itCommitted(adm, group, events); c != 200 {
			t.Fatalf("%d records committed while ClickHouse was down, want 200", c)
		}
		time.Sleep(time.Second)
	}
	if err := itClickHouseCtl(t, dsn, "start"); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	total := int64(len(before) + len(during))
	itWait(t, 2*time.Minute, fmt.Sprintf("%d records committed after the restart", total), func() bool { return itCommitted(adm, group, events) == total })
	t.Logf("ClickHouse down %s, %v failed inserts; the sink caught up %s after the restart",
		up.Sub(down).Round(time.Millisecond), testutil.ToFloat64(s.m.fails), time.Since(up).Round(time.Millisecond))

	if n := itCount(store, "SELECT count() FROM webhook_events FINAL"); n != total {
		t.Errorf("webhook_events FINAL has %d rows, want %d", n, total)
	}
	if n := itCount(store, "SELECT uniqExact(event_id) FROM webhook_events"); n != total {
		t.Errorf("%d distinct events in webhook_events, want %d", n, total)
	}
	t.Logf("%d raw rows before merges (a batch written again after a lost answer collapses under FINAL)",
		itCount(store, "SELECT count() FROM webhook_events"))
	if n := testutil.CollectAndCount(s.m.quarantined); n != 0 {
		t.Errorf("records quarantined under %d reasons during an outage: an outage must never quarantine", n)
	}
}
