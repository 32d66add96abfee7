package clickhouse

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// seedMixedWeek writes events at perSecond for the span before now, inside
// ClickHouse (INSERT ... SELECT FROM numbers: no rows cross the network),
// through webhook_events and so through the console indexes' views, as the
// sink would. The mix, per event number n (h, k: hashes of n):
//
//   - types: 45 % order.updated, 10 % order.created, 25 % product.updated,
//     5 % product.created, 5 % product.deleted, 10 % customer.created;
//   - entities: 50,000 orders (10000…), 5,000 products, 20,000 customers;
//   - a received row each (attempt 0, processed_at = received_at), then:
//     orders 94 % completed, 3 % retrying then completed from
//     evershop.retry.2s, 1.5 % dead, 1.5 % duplicate; products (the
//     catalog sync: outcomes share the sync's end, every 10 s) 2 % dead,
//     the rest completed; customers 2 % dead, 49 % skipped, 49 % completed;
//   - processing 5–500 ms, a few error texts.
func seedMixedWeek(tb testing.TB, s *Store, now time.Time, events, perSecond int) {
	tb.Helper()
	start := strconv.FormatInt(now.Add(-time.Duration(events/perSecond)*time.Second).Unix(), 10)
	per := strconv.Itoa(perSecond)
	src := func(from, n int) string {
		return `SELECT n,
	intHash32(n) % 20 AS k,
	intHash32(n * 7 + 3) % 1000 AS h,
	multiIf(k < 9, 'order.updated', k < 11, 'order.created', k < 16, 'product.updated', k < 17, 'product.created', k < 18, 'product.deleted', 'customer.created') AS typ,
	multiIf(k < 11, 'evershop.order', k < 18, 'evershop.product', 'evershop.customer') AS src_topic,
	multiIf(k < 11, toString(10000 + intHash32(n * 3) % 50000), k < 18, toString(intHash32(n * 5) % 5000), toString(intHash32(n * 11) % 20000)) AS entity,
	` + start + ` * 1000 + intDiv(n * 1000, ` + per + `) AS recv_ms,
	toDateTime(intDiv(recv_ms, 1000), 'UTC') AS recv,
	toInt32(cityHash64(entity) % 6) AS part,
	5 + intHash32(n * 13) % 496 AS proc_ms,
	multiIf(k < 11, multiIf(h < 940, 'completed', h < 970, 'retrying', h < 985, 'dead', 'duplicate'),
	        k < 18, if(h < 20, 'dead', 'completed'),
	        multiIf(h < 20, 'dead', h < 510, 'skipped', 'completed')) AS first,
	multiIf(first = 'dead', if(k < 11, 'inbox send: permanent: HTTP 400 invalid conversation', if(k < 18, 'coze: 413 document too large', 'inbox send: permanent: HTTP 422 no contact')),
	        first = 'retrying', 'inbox send: retryable: HTTP 503 Service Unavailable', '') AS first_err,
	if(k >= 11 AND k < 18, (intDiv(recv_ms, 10000) + 1) * 10000 + 700, recv_ms + 20 + proc_ms) AS first_ms,
	if(k >= 11 AND k < 18, 700 + intHash32(intDiv(recv_ms, 10000)) % 300, proc_ms) AS first_proc
FROM (SELECT number + ` + strconv.Itoa(from) + ` AS n FROM numbers(` + strconv.Itoa(n) + `))`
	}
	cols := "INSERT INTO webhook_events (event_id, event_type, entity_id, status, attempt, error, received_at, received_at_ms, processed_at, processed_at_ms, processing_ms, topic, `partition`, `offset`) "
	// A day at a time: one INSERT of the whole week outlives the client's
	// read timeout on a loaded machine.
	chunk := 86400 * perSecond
	for from := 0; from < events; from += chunk {
		rows := src(from, min(chunk, events-from))
		for _, q := range []string{
			// received
			`SELECT lower(hex(MD5(toString(n)))), typ, entity, 'received', 0, '', recv, recv_ms, recv, recv_ms, 0, src_topic, part, toInt64(n) FROM (` + rows + `)`,
			// first attempt
			`SELECT lower(hex(MD5(toString(n)))), typ, entity, first, 1, first_err, recv, recv_ms, toDateTime(intDiv(first_ms, 1000), 'UTC'), first_ms, toFloat64(first_proc), src_topic, part, toInt64(n) FROM (` + rows + `)`,
			// second attempt of the retried ones, from the retry tier
			`SELECT lower(hex(MD5(toString(n)))), typ, entity, 'completed', 2, '', recv, recv_ms, toDateTime(intDiv(first_ms + 2000 + proc_ms, 1000), 'UTC'), first_ms + 2000 + proc_ms, toFloat64(proc_ms), 'evershop.retry.2s', toInt32(n % 6), toInt64(n) FROM (` + rows + `) WHERE first = 'retrying'`,
		} {
			if err := s.Conn().Exec(tb.Context(), cols+strings.ReplaceAll(q, "\n\t", " ")); err != nil {
				tb.Fatalf("seed: %v", err)
			}
		}
	}
}

// weekStore opens the database BenchmarkConsoleWeek reads and returns it
// with the instant its history ends. With SHOPSTREAM_CONSOLE_BENCH_DB it
// keeps the data in that database across runs (seeded when empty);
// otherwise it seeds a fresh database dropped at the end.
func weekStore(b *testing.B, events int) (*Store, time.Time) {
	b.Helper()
	var s *Store
	if db := os.Getenv("SHOPSTREAM_CONSOLE_BENCH_DB"); db != "" {
		admin, err := Open(b.Context(), testDSN(b))
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = admin.Close() }()
		if err := admin.Conn().Exec(b.Context(), "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
			b.Fatal(err)
		}
		if s, err = Open(b.Context(), testDSN(b), WithDatabase(db), WithLogger(slog.New(slog.DiscardHandler))); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		if _, err := s.Migrate(b.Context()); err != nil {
			b.Fatal(err)
		}
	} else {
		s = migratedStore(b)
	}
	if n := count(b, s, "SELECT count() FROM webhook_events WHERE status = 'received'"); n == 0 {
		t0 := time.Now()
		seedMixedWeek(b, s, time.Now().UTC().Truncate(time.Second), events, 10)
		b.Logf("seeded %d events (%d rows) in %s", events, count(b, s, "SELECT count() FROM webhook_events"), time.Since(t0).Round(time.Second))
	} else if n != uint64(events) {
		b.Fatalf("%s holds %d events, not %d: drop it or unset SHOPSTREAM_CONSOLE_BENCH_DB", s.Database(), n, events)
	}
	var last time.Time
	if err := s.Conn().QueryRow(b.Context(), "SELECT max(received_at) FROM webhook_events").Scan(&last); err != nil {
		b.Fatal(err)
	}
	return s, last.Add(time.Second)
}

// consoleReads is the console's EventStore: the Store (indexes) and
// legacyConsole (the queries before migration 0003).
type consoleReads interface {
	FindEvents(ctx context.Context, q EventQuery) ([]EventSummary, error)
	Timeline(ctx context.Context, eventID string) ([]TimelineRow, error)
	Delivered(ctx context.Context, ids []string) (map[string]bool, error)
	LoadOverview(ctx context.Context, now time.Time) (Overview, error)
}

// eventID is the id seedMixedWeek gives event number n.
func eventID(n int) string {
	sum := md5.Sum([]byte(strconv.Itoa(n)))
	return hex.EncodeToString(sum[:])
}

// BenchmarkConsoleWeek measures the ClickHouse reads of each console page
// on a week of events at 10/s (SHOPSTREAM_CONSOLE_BENCH_EVENTS=6048000,
// generated by seedMixedWeek: about 12 million rows), before (the queries
// on webhook_events, legacyConsole) and after (the indexes of migration
// 0003 and 0005; reads0003 is the search as 0003 left it), in one run on
// the same data, each page's reads with a different
// order or event id every time. It reports each page's p50 and p99 in ms
// (run it with -benchtime 50x, see make bench-console) and fails if before
// and after disagree. It never asserts a time.
func BenchmarkConsoleWeek(b *testing.B) {
	events, _ := strconv.Atoi(os.Getenv("SHOPSTREAM_CONSOLE_BENCH_EVENTS"))
	if events <= 0 {
		b.Skip("SHOPSTREAM_CONSOLE_BENCH_EVENTS is unset (6048000 = a week at 10 events/s)")
	}
	s, now := weekStore(b, events)
	ctx := b.Context()
	probe := func(i int) string { return eventID(events - 1 - (i*7919)%(events/2)) }
	order := func(i int) string { return strconv.Itoa(10000 + (i*7919)%50000) }
	pages := []struct {
		name string
		run  func(r consoleReads, i int) (any, error)
	}{
		{"overview", func(r consoleReads, i int) (any, error) {
			ov, err := r.LoadOverview(ctx, now.Add(-time.Duration(i%5)*time.Minute))
			ov.P50Ms, ov.P99Ms = 0, 0 // quantile samples; compared apart
			return ov, err
		}},
		{"find_order_id", func(r consoleReads, i int) (any, error) {
			return r.FindEvents(ctx, EventQuery{EntityID: order(i), Limit: 100})
		}},
		{"find_event_id", func(r consoleReads, i int) (any, error) {
			return r.FindEvents(ctx, EventQuery{EventID: probe(i), Limit: 100})
		}},
		{"events_last_day", func(r consoleReads, i int) (any, error) {
			return r.FindEvents(ctx, EventQuery{Since: now.Add(-24 * time.Hour), Until: now.Add(-time.Duration(i%5) * time.Minute), Limit: 100})
		}},
		{"dead_last_day", func(r consoleReads, i int) (any, error) {
			return r.FindEvents(ctx, EventQuery{Status: "dead", Since: now.Add(-24 * time.Hour), Until: now.Add(-time.Duration(i%5) * time.Minute), Limit: 100})
		}},
		{"event_timeline", func(r consoleReads, i int) (any, error) { return r.Timeline(ctx, probe(i)) }},
		{"dlq_delivered_200", func(r consoleReads, i int) (any, error) {
			ids := make([]string, 200)
			for j := range ids {
				ids[j] = probe(i*200 + j)
			}
			return r.Delivered(ctx, ids)
		}},
	}
	impls := []struct {
		name string
		r    consoleReads
	}{{"before", legacyConsole{s}}, {"0003", reads0003{s}}, {"after", s}}
	for _, p := range pages {
		// Same answers on the week, for a few probes.
		for i := range 3 {
			want, err := p.run(legacyConsole{s}, i)
			if err != nil {
				b.Fatalf("%s before: %v", p.name, err)
			}
			got, err := p.run(s, i)
			if err != nil {
				b.Fatalf("%s after: %v", p.name, err)
			}
			if !reflect.DeepEqual(got, want) {
				b.Fatalf("%s: before and after disagree\nbefore %+v\n after %+v", p.name, want, got)
			}
			if mid, err := p.run(reads0003{s}, i); err != nil || !reflect.DeepEqual(mid, want) {
				b.Fatalf("%s: before and 0003 disagree (%v)\nbefore %+v\n  0003 %+v", p.name, err, want, mid)
			}
		}
		for _, impl := range impls {
			if impl.name == "0003" && !slices.Contains([]string{"find_order_id", "find_event_id", "events_last_day", "dead_last_day"}, p.name) {
				continue // the same reads as after
			}
			b.Run(p.name+"/"+impl.name, func(b *testing.B) {
				var times []time.Duration
				i := 0
				for b.Loop() {
					t0 := time.Now()
					if _, err := p.run(impl.r, i); err != nil {
						b.Fatal(err)
					}
					times = append(times, time.Since(t0))
					i++
				}
				slices.Sort(times)
				b.ReportMetric(ms(times[len(times)/2]), "p50-ms")
				b.ReportMetric(ms(times[(len(times)*99)/100]), "p99-ms")
			})
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
