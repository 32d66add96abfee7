package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// BenchmarkSinkThroughput measures the analytics sink end to end against the
// real broker and the real ClickHouse: 200,000 outcome records are produced
// to evershop.events first (the topic is deleted and created again: the sink
// consumes that fixed topic), then each iteration runs a Sink with a fresh
// consumer group from the first record until ClickHouse accepted every row.
// rows/s counts from the sink's start (group join included); steady_rows/s
// from the first accepted batch to the last. Shares the broker with the
// integration suite, so:
//
//	SHOPSTREAM_TEST_KAFKA=127.0.0.1:9092 SHOPSTREAM_TEST_CLICKHOUSE=1 \
//	  flock /tmp/shopstream-it.lock go test -run '^$' -bench SinkThroughput -benchtime 1x ./connectors/kafka/
func BenchmarkSinkThroughput(b *testing.B) {
	const rows = 200_000
	kcfg := sinkBenchBroker(b)
	store := sinkBenchStore(b)
	log := slog.New(slog.DiscardHandler)

	cl, err := kafka.NewClient(kcfg, "bench-producer", log, nil,
		kgo.DefaultProduceTopic(schemas.TopicEvents),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(50_000),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	sinkBenchResetTopic(b, kadm.NewClient(cl))
	produceStart := time.Now()
	sinkBenchProduce(b, cl, rows)
	b.Logf("produced %d outcome records in %s", rows, time.Since(produceStart).Round(time.Millisecond))

	b.ResetTimer()
	var steady time.Duration
	steadyRows := 0
	for i := 0; i < b.N; i++ {
		timed := &sinkBenchTimedStore{Store: store}
		s, err := New(b.Context(), kcfg, Config{Group: fmt.Sprintf("shopstream-bench-sink-%d-%d", time.Now().UnixNano(), i)}, timed, log, prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		deadline := time.Now().Add(5 * time.Minute)
		for testutil.ToFloat64(s.m.rows) < rows {
			if time.Now().After(deadline) {
				cancel()
				b.Fatalf("only %v of %d rows written after 5 minutes", testutil.ToFloat64(s.m.rows), rows)
			}
			time.Sleep(5 * time.Millisecond)
		}
		first, last, batches, firstRows := timed.span()
		steady += last.Sub(first)
		steadyRows += rows - firstRows
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if n := testutil.ToFloat64(s.m.fails); n > 0 {
			b.Logf("iteration %d: %v failed inserts (retried)", i, n)
		}
		b.Logf("iteration %d: %d batches", i, batches)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	if steady > 0 {
		// From the end of the first batch: the first batch's rows are not
		// part of the interval, so leave them out of the count too.
		b.ReportMetric(float64(steadyRows)/steady.Seconds(), "steady_rows/s")
	}

	var distinct uint64
	if err := store.Conn().QueryRow(context.Background(), "SELECT count() FROM webhook_events FINAL").Scan(&distinct); err != nil {
		b.Fatal(err)
	}
	if distinct != rows {
		b.Fatalf("webhook_events FINAL has %d rows, want %d", distinct, rows)
	}
}

// sinkBenchBroker is the real broker of SHOPSTREAM_TEST_KAFKA.
func sinkBenchBroker(b *testing.B) kafka.Config {
	b.Helper()
	addr := os.Getenv("SHOPSTREAM_TEST_KAFKA")
	if addr == "" {
		b.Skip("SHOPSTREAM_TEST_KAFKA is not set; start the local broker (deploy/local/kafka.sh start)")
	}
	cfg := kafka.DefaultConfig()
	cfg.Brokers = strings.Split(addr, ",")
	cfg.ClientIDPrefix = "shopstream-bench"
	cl, err := kafka.NewClient(cfg, "ping", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		b.Fatalf("SHOPSTREAM_TEST_KAFKA=%s does not answer: %v", addr, err)
	}
	return cfg
}

// sinkBenchStore opens a migrated database of the benchmark's own on the
// ClickHouse of SHOPSTREAM_TEST_CLICKHOUSE (a DSN, or any value for the
// local server), dropped at cleanup.
func sinkBenchStore(b *testing.B) *clickhouse.Store {
	b.Helper()
	dsn := os.Getenv("SHOPSTREAM_TEST_CLICKHOUSE")
	switch {
	case dsn == "":
		b.Skip("SHOPSTREAM_TEST_CLICKHOUSE is not set; start ClickHouse (deploy/local/clickhouse.sh start) and set it to 1 or a DSN")
	case !strings.Contains(dsn, "://"):
		dsn = "clickhouse://127.0.0.1:9000/default"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	quiet := clickhouse.WithLogger(slog.New(slog.DiscardHandler))
	admin, err := clickhouse.Open(ctx, dsn, quiet, clickhouse.WithDatabase("default"))
	if err != nil {
		b.Fatalf("SHOPSTREAM_TEST_CLICKHOUSE=%s: %v", dsn, err)
	}
	raw := make([]byte, 6)
	_, _ = rand.Read(raw)
	db := "bench_sink_" + hex.EncodeToString(raw)
	if err := admin.Conn().Exec(ctx, "CREATE DATABASE "+db); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			b.Errorf("drop database %s: %v", db, err)
		}
		_ = admin.Close()
	})
	s, err := clickhouse.Open(ctx, dsn, quiet, clickhouse.WithDatabase(db))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return s
}

// sinkBenchResetTopic deletes evershop.events and creates it again with
// the topic plan's default six partitions.
func sinkBenchResetTopic(b *testing.B, adm *kadm.Client) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := adm.DeleteTopic(ctx, schemas.TopicEvents); err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		b.Fatalf("delete %s: %v", schemas.TopicEvents, err)
	}
	for {
		resp, err := adm.CreateTopic(ctx, 6, 1, nil, schemas.TopicEvents)
		if err == nil {
			err = resp.Err
		}
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) && sinkBenchEmpty(ctx, adm) {
			break
		}
		select { // "marked for deletion" for a moment
		case <-ctx.Done():
			b.Fatalf("create %s: %v", schemas.TopicEvents, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	for {
		topics, err := adm.ListTopics(ctx, schemas.TopicEvents)
		if err == nil {
			d := topics[schemas.TopicEvents]
			led := d.Err == nil && len(d.Partitions) == 6
			for _, p := range d.Partitions {
				led = led && p.Err == nil && p.Leader >= 0
			}
			if led {
				return
			}
		}
		select {
		case <-ctx.Done():
			b.Fatalf("%s has no leaders: %v", schemas.TopicEvents, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func sinkBenchEmpty(ctx context.Context, adm *kadm.Client) bool {
	ends, err := adm.ListEndOffsets(ctx, schemas.TopicEvents)
	if err != nil || ends.Error() != nil {
		return false
	}
	empty := true
	ends.Each(func(o kadm.ListedOffset) { empty = empty && o.Offset == 0 })
	return empty
}

// sinkBenchProduce writes n distinct outcomes, keyed by event id like
// OutcomeWriter, and waits for every ack.
func sinkBenchProduce(b *testing.B, cl *kgo.Client, n int) {
	b.Helper()
	statuses := []pipeline.Status{pipeline.StatusReceived, pipeline.StatusCompleted, pipeline.StatusCompleted,
		pipeline.StatusRetrying, pipeline.StatusSkipped, pipeline.StatusDead}
	types := []string{pipeline.OrderUpdated, pipeline.CustomerCreated, "product.updated"}
	now := time.Now().UTC()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		o := pipeline.Outcome{
			EventID:   fmt.Sprintf("%064x", i),
			EventType: types[i%len(types)], EntityID: fmt.Sprint(1000 + i%5000),
			Status: statuses[i%len(statuses)], Attempt: 1 + i%3,
			ReceivedAt: now.Add(-time.Duration(i) * time.Millisecond), ProcessedAt: now,
			ProcessingMs: float64(i%250) + 0.5, Topic: schemas.TopicOrder, Partition: int32(i % 6), Offset: int64(i),
		}
		if o.Status == pipeline.StatusRetrying || o.Status == pipeline.StatusDead {
			o.Error = "inbox send: retryable: inbox login: HTTP 503: upstream unavailable"
		}
		v, err := json.Marshal(o)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Key: []byte(o.EventID), Value: v}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatalf("produce: %v", firstErr)
	}
}

// sinkBenchTimedStore notes when the first and the last batch were
// accepted.
type sinkBenchTimedStore struct {
	*clickhouse.Store
	mu          sync.Mutex
	first, last time.Time
	batches     int
	firstRows   int
}

func (s *sinkBenchTimedStore) WriteOutcomes(ctx context.Context, rows []pipeline.Outcome) (map[int]error, error) {
	rejected, err := s.Store.WriteOutcomes(ctx, rows)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	s.mu.Lock()
	if s.first.IsZero() {
		s.first, s.firstRows = now, len(rows)
	}
	s.last = now
	s.batches++
	s.mu.Unlock()
	return rejected, nil
}

func (s *sinkBenchTimedStore) span() (first, last time.Time, batches, firstRows int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first, s.last, s.batches, s.firstRows
}
