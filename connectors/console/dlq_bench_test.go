package console

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// BenchmarkDeadLettersPage measures the dead-letter page (GET /dlq) over a
// real broker's evershop.dlq holding SHOPSTREAM_CONSOLE_BENCH_DLQ dead
// letters (a week at 10 events/s dead-letters about 1 %: 60,000), through
// the console's handler and KafkaDeadLetters, the code path the console
// runs; the "delivered since" check goes to an in-memory store (its
// ClickHouse time is BenchmarkConsoleWeek's dlq_delivered_200). It tops the
// topic up to that many records, never deletes any: run it on a broker of
// your own (SHOPSTREAM_TEST_KAFKA). Reports p50 and p99 in ms: a full read
// per load (no index), the index's first load (it reads the whole DLQ once,
// with the bytes each entry costs) and warm loads over the index.
func BenchmarkDeadLettersPage(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("SHOPSTREAM_CONSOLE_BENCH_DLQ"))
	addr := os.Getenv("SHOPSTREAM_TEST_KAFKA")
	if n <= 0 || addr == "" {
		b.Skip("set SHOPSTREAM_CONSOLE_BENCH_DLQ (dead letters, e.g. 60000) and SHOPSTREAM_TEST_KAFKA (a broker of your own)")
	}
	cfg := kafka.DefaultConfig()
	cfg.Brokers = strings.Split(addr, ",")
	cfg.ClientIDPrefix = "shopstream-bench"
	log := slog.New(slog.DiscardHandler)
	fillDLQ(b, cfg, log, n)

	ev := &fakeEvents{timelines: map[string][]clickhouse.TimelineRow{}, delivered: map[string]bool{}}
	full := KafkaDeadLetters{Config: cfg, Log: log}
	page := func(b *testing.B, dl DeadLetters) func(path string) time.Duration {
		s, err := New(Config{Addr: "127.0.0.1:0", Development: true, Now: time.Now}, Deps{Events: ev, DeadLetters: dl})
		if err != nil {
			b.Fatal(err)
		}
		h := s.Handler()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		cookie := rec.Result().Cookies()[0]
		return func(path string) time.Duration {
			t0 := time.Now()
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.AddCookie(cookie)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
			}
			return time.Since(t0)
		}
	}
	report := func(b *testing.B, times []time.Duration) {
		slices.Sort(times)
		b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
	}
	paths := []string{"/dlq", "/dlq?type=order.updated&error=400"}
	// Before the index: every load reads and parses the whole DLQ.
	for _, path := range paths {
		b.Run("full-read"+path, func(b *testing.B) {
			load := page(b, full)
			var times []time.Duration
			for b.Loop() {
				times = append(times, load(path))
			}
			report(b, times)
		})
	}
	// The first load of a console: the index reads the whole DLQ once.
	b.Run("index-first-load/dlq", func(b *testing.B) {
		var times []time.Duration
		var stats IndexStats
		for b.Loop() {
			dl := full.WithIndex(0)
			times = append(times, page(b, dl)("/dlq"))
			stats = dl.Index.Stats()
		}
		report(b, times)
		b.ReportMetric(float64(stats.Entries), "entries")
		b.ReportMetric(float64(stats.Bytes)/float64(max(stats.Entries, 1)), "bytes/entry")
	})
	// Warm loads: the index asks for the offsets and reads what was
	// appended since (nothing here).
	warm := full.WithIndex(0)
	for _, path := range paths {
		b.Run("index-warm"+path, func(b *testing.B) {
			load := page(b, warm)
			load(path)
			var times []time.Duration
			for b.Loop() {
				times = append(times, load(path))
			}
			report(b, times)
		})
	}
}

// fillDLQ creates evershop.dlq if needed and produces dead letters until it
// holds n records.
func fillDLQ(b *testing.B, cfg kafka.Config, log *slog.Logger, n int) {
	b.Helper()
	ctx := b.Context()
	cl, err := kafka.NewClient(cfg, "bench-dlq", log, nil, kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 6, 1, nil, schemas.TopicDLQ); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		b.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, schemas.TopicDLQ)
	if err != nil {
		b.Fatal(err)
	}
	starts, err := adm.ListStartOffsets(ctx, schemas.TopicDLQ)
	if err != nil {
		b.Fatal(err)
	}
	have := 0
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok {
			have += int(o.Offset - s.Offset)
		}
	})
	now := time.Now()
	t := &testing.T{}
	var recs []*kgo.Record
	flush := func() {
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		recs = recs[:0]
	}
	for i := have; i < n; i++ {
		e := orderEvent(t, fmt.Sprintf("bench-dead-%d", i), 10000+i%50000, "buyer@example.com")
		e.ReceivedAt = now.Add(-time.Duration(n-i) * 10 * time.Second)
		cause := errors.New("inbox send: permanent: HTTP 400 invalid conversation")
		if i%3 == 0 {
			cause = errors.New("inbox send: retryable: HTTP 503 Service Unavailable")
		}
		d := pipeline.Delivery{Event: e, Attempt: 1 + i%4, Topic: schemas.TopicOrder, Partition: int32(i % 6), Offset: int64(i)}
		recs = append(recs, kafka.DeliveryRecord(schemas.TopicDLQ, d, cause, e.ReceivedAt.Add(time.Second)))
		if len(recs) == 5000 {
			flush()
		}
	}
	flush()
	b.Logf("evershop.dlq holds %d dead letters (%d produced now)", max(have, n), max(0, n-have))
}
