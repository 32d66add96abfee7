package main

// The analytics integration tests: the whole pipeline (serve, process, sink)
// against the real Kafka broker (SHOPSTREAM_TEST_KAFKA) and the real
// ClickHouse (SHOPSTREAM_TEST_CLICKHOUSE: a DSN, or any non-empty value for
// clickhouse://127.0.0.1:9000/default), plus the metrics the roles export.
// They use the harness in harness_test.go and share the broker, so run them
// under the lock:
//
//	SHOPSTREAM_TEST_KAFKA=127.0.0.1:9092 SHOPSTREAM_TEST_CLICKHOUSE=1 \
//	  flock /tmp/shopstream-it.lock go test -count=1 -run IntegrationAnalytics -v ./cmd/shopstream/
//
// Every test gets a ClickHouse database of its own (analytics_<random>),
// dropped at cleanup. TestIntegrationAnalyticsClickHouseOutage stops and
// restarts the server deploy/local/clickhouse.sh manages.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/clickhouse"
	"github.com/shopstream/shopstream/connectors/inbox/inboxtest"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
	chschema "github.com/shopstream/shopstream/schemas/clickhouse"
)

const analyticsInboxToken = "analytics-inbox-token"

// analyticsClickHouseDSN returns the DSN of SHOPSTREAM_TEST_CLICKHOUSE
// (skipping when it is unset) and fails when the server does not answer.
func analyticsClickHouseDSN(t *testing.T) string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv("SHOPSTREAM_TEST_CLICKHOUSE"))
	if v == "" {
		t.Skip("SHOPSTREAM_TEST_CLICKHOUSE is not set; start ClickHouse (deploy/local/clickhouse.sh start) and set it to 1 or to a DSN such as clickhouse://127.0.0.1:9000/default")
	}
	if !strings.Contains(v, "://") {
		v = "clickhouse://127.0.0.1:9000/default"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := clickhouse.Open(ctx, v, clickhouse.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("SHOPSTREAM_TEST_CLICKHOUSE=%s does not answer (deploy/local/clickhouse.sh status): %v", v, err)
	}
	_ = s.Close()
	return v
}

// analyticsDatabase creates a database of the test's own on the test
// ClickHouse and returns the CLICKHOUSE_DSN line that points at it and a
// Store on it (for the test's queries). The database is dropped at cleanup.
func analyticsDatabase(t *testing.T) (env string, store *clickhouse.Store) {
	t.Helper()
	base := analyticsClickHouseDSN(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	quiet := clickhouse.WithLogger(slog.New(slog.DiscardHandler))
	admin, err := clickhouse.Open(ctx, base, quiet, clickhouse.WithDatabase("default"))
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 6)
	_, _ = rand.Read(raw)
	db := "analytics_" + hex.EncodeToString(raw)
	if err := admin.Conn().Exec(ctx, "CREATE DATABASE "+db); err != nil {
		_ = admin.Close()
		t.Fatalf("create database %s: %v", db, err)
	}
	t.Cleanup(func() {
		defer func() { _ = admin.Close() }() // cleanup: nothing to act on
		// ClickHouse may just have been restarted by the outage test.
		deadline := time.Now().Add(60 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := admin.Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+db)
			cancel()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("drop database %s: %v", db, err)
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	if store, err = clickhouse.Open(ctx, u.String(), quiet); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return "CLICKHOUSE_DSN=" + u.String(), store
}

// analyticsStartSink runs newSink (migrations, then the sink group
// consumer) with lifecycle.Run, like `shopstream sink` minus its admin listener.
func analyticsStartSink(t *testing.T, cfg Config) *role {
	t.Helper()
	log := testLogger(t).With("role", "sink")
	reg := newRegistry()
	parts, err := newSink(t.Context(), cfg, log, reg)
	if err != nil {
		t.Fatalf("sink: %v", err)
	}
	return runRole(t, "sink", log, reg, parts)
}

// analyticsInbox is the checking inbox fake behind a proxy that fails the
// login of chosen customers: once (a transient 500, so the event is retried)
// or always (a 400, so the event is dead-lettered). The fake itself can only
// fail "the next n requests", whoever they are for.
type analyticsInbox struct {
	*inboxtest.Server
	URL string

	mu     sync.Mutex
	once   map[string]int // e-mail -> status, answered to the first login only
	always map[string]int // e-mail -> status, answered to every login
}

func analyticsStartInbox(t *testing.T) *analyticsInbox {
	t.Helper()
	fake := inboxtest.Start(t, analyticsInboxToken)
	in := &analyticsInbox{Server: fake, once: map[string]int{}, always: map[string]int{}}
	target, err := url.Parse(fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if r.URL.Path == inboxtest.PathLogin {
			var login struct{ Email string }
			_ = json.Unmarshal(body, &login)
			if status := in.failure(login.Email); status != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, _ = fmt.Fprintf(w, `{"code":%d,"message":"injected failure for this customer"}`, status)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	in.URL = srv.URL
	return in
}

func (in *analyticsInbox) failure(email string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.once[email]; ok {
		delete(in.once, email)
		return s
	}
	return in.always[email]
}

func (in *analyticsInbox) FailLoginOnce(email string, status int) {
	in.mu.Lock()
	in.once[email] = status
	in.mu.Unlock()
}

func (in *analyticsInbox) FailLoginAlways(email string, status int) {
	in.mu.Lock()
	in.always[email] = status
	in.mu.Unlock()
}

func (in *analyticsInbox) Env() []string {
	return []string{"INBOX_API_URL=" + in.URL, "INBOX_API_TOKEN=" + analyticsInboxToken}
}

// analyticsPost posts a signed webhook and fails the test unless it was
// accepted. webhookID, when set, is the event id: the request is then
// signed the Standard Webhooks way, whose signature covers webhook-id (an
// unsigned id header would be ignored).
func analyticsPost(t *testing.T, cfg Config, kind string, body []byte, webhookID string) {
	t.Helper()
	var hdr http.Header
	if webhookID != "" {
		now := time.Now()
		hdr = http.Header{
			"Webhook-Id":        {webhookID},
			"Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)},
			"Webhook-Signature": {pipeline.SignStandard(cfg.Secrets[0], webhookID, now, body)},
		}
	}
	if status, resp := postWebhookHeaders(t, cfg, kind, body, hdr); status != http.StatusOK {
		t.Fatalf("post %s webhook: %d %s", kind, status, resp)
	}
}

// outcomeKey identifies one row of webhook_events (its sorting key).
type outcomeKey struct {
	EventID, EventType, Status string
	Attempt                    uint32
	Topic                      string
	Partition                  int32
	Offset                     int64
}

func keyOf(o pipeline.Outcome) outcomeKey {
	return outcomeKey{o.EventID, o.EventType, string(o.Status), uint32(o.Attempt), o.Topic, o.Partition, o.Offset}
}

// analyticsRows reads webhook_events FINAL: every row's key and how many
// rows carry it.
func analyticsRows(t *testing.T, store *clickhouse.Store, final bool) map[outcomeKey]uint64 {
	t.Helper()
	from := "webhook_events"
	if final {
		from += " FINAL"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rows, err := store.Conn().Query(ctx, "SELECT event_id, event_type, status, attempt, topic, `partition`, `offset`, count() FROM "+from+
		" GROUP BY event_id, event_type, status, attempt, topic, `partition`, `offset`")
	if err != nil {
		t.Fatalf("read webhook_events: %v", err)
	}
	defer rows.Close()
	out := map[outcomeKey]uint64{}
	for rows.Next() {
		var k outcomeKey
		var n uint64
		if err := rows.Scan(&k.EventID, &k.EventType, &k.Status, &k.Attempt, &k.Topic, &k.Partition, &k.Offset, &n); err != nil {
			t.Fatalf("scan webhook_events: %v", err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read webhook_events: %v", err)
	}
	return out
}

// analyticsCount runs a query returning one UInt64; the error is returned,
// not fatal, because ClickHouse may be away on purpose.
func analyticsCount(ctx context.Context, store *clickhouse.Store, query string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var n uint64
	err := store.Conn().QueryRow(ctx, query).Scan(&n)
	return n, err
}

// analyticsWaitPastReceipts waits until ClickHouse's clock has left the
// second of the latest receipt: the analyst queries' range ends at now(),
// exclusive, so rows received in the current second are not counted yet.
func analyticsWaitPastReceipts(t *testing.T, store *clickhouse.Store) {
	t.Helper()
	waitUntil(t, 10*time.Second, "ClickHouse's now() past the last receipt", func() bool {
		n, err := analyticsCount(t.Context(), store, "SELECT toUInt64(now() > max(received_at)) FROM webhook_events")
		return err == nil && n == 1
	})
}

// analyticsRun runs a checked-in analyst query with its default range.
func analyticsRun(t *testing.T, store *clickhouse.Store, name string) *clickhouse.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := store.RunQuery(ctx, name, chschema.Range{})
	if err != nil {
		t.Fatalf("analyst query %s: %v", name, err)
	}
	return res
}

// analyticsTable renders a result as a Markdown table, for the README.
func analyticsTable(res *clickhouse.Result) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(res.Columns, " | ") + " |\n|")
	for range res.Columns {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, row := range res.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			switch v := v.(type) {
			case nil:
				cells[i] = "NULL"
			case time.Time:
				cells[i] = v.UTC().Format(time.DateTime)
			case float64:
				cells[i] = fmt.Sprintf("%.4g", v)
			default:
				cells[i] = fmt.Sprint(v)
			}
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return b.String()
}

// analyticsNumber turns a scanned ClickHouse number into a float64; NULL is
// NaN.
func analyticsNumber(t *testing.T, v any) float64 {
	t.Helper()
	switch v := v.(type) {
	case nil:
		return math.NaN()
	case float64:
		return v
	case float32:
		return float64(v)
	case uint64:
		return float64(v)
	case uint32:
		return float64(v)
	case int64:
		return float64(v)
	case int32:
		return float64(v)
	case uint8:
		return float64(v)
	}
	t.Fatalf("%T %v is not a number", v, v)
	return 0
}

// analyticsByType sums each numeric column per event type over the hours
// (a run that crosses an hour has two rows per type). Ratio columns are
// left out: recompute them from the sums.
func analyticsByType(t *testing.T, res *clickhouse.Result, sums ...string) map[string]map[string]float64 {
	t.Helper()
	out := map[string]map[string]float64{}
	for _, m := range res.Maps() {
		typ := m["event_type"].(string)
		if out[typ] == nil {
			out[typ] = map[string]float64{}
		}
		for _, c := range sums {
			v, ok := m[c]
			if !ok {
				t.Fatalf("no column %s in %v", c, res.Columns)
			}
			out[typ][c] += analyticsNumber(t, v)
		}
	}
	return out
}

func analyticsNear(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestIntegrationAnalyticsPipeline posts a known mix of webhooks through
// serve, process and the sink, then checks webhook_events row by row and the
// analysts' queries figure by figure.
func TestIntegrationAnalyticsPipeline(t *testing.T) {
	dsnEnv, store := analyticsDatabase(t)
	inbox := analyticsStartInbox(t)
	cfg := testConfig(t, append(inbox.Env(), dsnEnv, "WEBHOOK_AUTO_SYNC_PRODUCTS=false", "WEBHOOK_SEND_WELCOME_MESSAGE=false")...)
	resetKafka(t, cfg)
	events := tailTopic(t, cfg, schemas.TopicEvents)
	startServe(t, cfg)
	startProcess(t, cfg, nil)
	sink := analyticsStartSink(t, cfg)

	// want lists, per event id, the processor outcomes (status/attempt)
	// the mix must produce; posts counts the accepted POSTs per event id.
	type attempt struct {
		Status  pipeline.Status
		Attempt int
	}
	want := map[string][]attempt{}
	posts := map[string]int{}
	typeOf := map[string]string{}
	post := func(kind string, body []byte, webhookID string, outcomes ...attempt) string {
		t.Helper()
		analyticsPost(t, cfg, kind, body, webhookID)
		id := webhookID
		if id == "" {
			id = pipeline.BodyEventID(body)
		}
		posts[id]++
		want[id] = append(want[id], outcomes...)
		var env struct{ Event string }
		_ = json.Unmarshal(body, &env)
		typeOf[id] = env.Event
		return id
	}
	completed := attempt{pipeline.StatusCompleted, 1}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)

	const completers, customers = 10, 3
	for i := range completers {
		post("order", orderBody("order.updated", 7000+i, fmt.Sprintf("buyer%d@example.com", i), "shipped", "processing", base), "", completed)
	}
	for i := range customers {
		post("customer", customerBody(8000+i, fmt.Sprintf("new%d@example.com", i), "New Customer", base), "", attempt{pipeline.StatusSkipped, 1})
	}
	inbox.FailLoginOnce("flaky@example.com", http.StatusInternalServerError)
	post("order", orderBody("order.updated", 7100, "flaky@example.com", "shipped", "processing", base), "",
		attempt{pipeline.StatusRetrying, 1}, attempt{pipeline.StatusCompleted, 2})
	inbox.FailLoginAlways("gone@example.com", http.StatusBadRequest)
	post("order", orderBody("order.updated", 7101, "gone@example.com", "shipped", "processing", base), "", attempt{pipeline.StatusDead, 1})
	// Same order, same partition, in this order: the newer status is sent,
	// the stale one that arrives after it is superseded.
	post("order", orderBody("order.updated", 7102, "late@example.com", "delivered", "shipped", base.Add(2*time.Second)), "", completed)
	post("order", orderBody("order.updated", 7102, "late@example.com", "shipped", "processing", base.Add(time.Second)), "", attempt{pipeline.StatusSuperseded, 1})
	// A sender re-delivery: the same webhook-id twice.
	dupBody := orderBody("order.updated", 7103, "twice@example.com", "shipped", "processing", base)
	const dupID = "analytics-redelivered-7103"
	post("order", dupBody, dupID, completed)
	post("order", dupBody, dupID, attempt{pipeline.StatusDuplicate, 1})

	wantProcessed := 0
	for _, as := range want {
		wantProcessed += len(as)
	}
	wantReceived := 0
	for _, n := range posts {
		wantReceived += n
	}

	// 1. evershop.events carries exactly the expected outcomes.
	outs := events.WaitOutcomes(t, 60*time.Second, fmt.Sprintf("%d received + %d processor outcomes", wantReceived, wantProcessed),
		func(o []pipeline.Outcome) bool {
			return countOutcomes(o, pipeline.StatusReceived) >= wantReceived && len(o)-countOutcomes(o, pipeline.StatusReceived) >= wantProcessed
		})
	got := map[string][]attempt{}
	for _, o := range outs {
		if o.Status != pipeline.StatusReceived {
			got[o.EventID] = append(got[o.EventID], attempt{o.Status, o.Attempt})
		}
	}
	for id, w := range want {
		g := got[id]
		slices.SortFunc(g, func(a, b attempt) int { return a.Attempt - b.Attempt })
		if !slices.Equal(g, w) {
			t.Errorf("%s (%s): outcomes %v, want %v", id, typeOf[id], g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("outcomes for %d events, want %d", len(got), len(want))
	}

	// 2. webhook_events (FINAL) holds every outcome of the stream exactly
	// once, and nothing else.
	stream := map[outcomeKey]bool{}
	for _, o := range outs {
		stream[keyOf(o)] = true
	}
	var rows map[outcomeKey]uint64
	waitUntil(t, 60*time.Second, "every outcome in webhook_events", func() bool {
		n, err := analyticsCount(t.Context(), store, "SELECT count() FROM webhook_events FINAL WHERE status != 'received'")
		if err != nil || n < uint64(wantProcessed) {
			return false
		}
		rows = analyticsRows(t, store, true)
		for k := range stream {
			if rows[k] == 0 {
				return false
			}
		}
		return true
	}, func() string {
		return fmt.Sprintf("%d distinct rows, %d outcome keys on the topic", len(rows), len(stream))
	})
	for k, n := range rows {
		switch {
		case !stream[k]:
			t.Errorf("webhook_events has a row no outcome record carries: %+v", k)
		case n != 1:
			t.Errorf("webhook_events FINAL has %d rows for %+v, want 1", n, k)
		}
	}
	// Every accepted webhook has exactly one received row, and every
	// attempt exactly one outcome row.
	received := map[string]int{}
	perAttempt := map[string]map[attempt]int{}
	for k, n := range rows {
		if k.Status == string(pipeline.StatusReceived) {
			received[k.EventID] += int(n)
			continue
		}
		if perAttempt[k.EventID] == nil {
			perAttempt[k.EventID] = map[attempt]int{}
		}
		perAttempt[k.EventID][attempt{pipeline.Status(k.Status), int(k.Attempt)}] += int(n)
	}
	for id, w := range want {
		wantRows := map[attempt]int{}
		for _, a := range w {
			wantRows[a]++
		}
		if fmt.Sprint(perAttempt[id]) != fmt.Sprint(wantRows) {
			t.Errorf("%s: outcome rows %v, want %v", id, perAttempt[id], wantRows)
		}
		// README (webhook_events, "No duplicates on re-delivery"): a sender
		// re-delivering a webhook is a new Kafka record, so it stays a row
		// of its own: received once per accepted POST.
		if received[id] != posts[id] {
			t.Errorf("%s: %d received rows for %d accepted POSTs (FINAL collapses received rows that share event id, topic, partition 0 and offset 0: the ingress does not record where the record landed)",
				id, received[id], posts[id])
		}
	}
	if raw := analyticsRows(t, store, false); len(raw) != len(rows) {
		t.Logf("before merges: %d distinct keys raw, %d FINAL", len(raw), len(rows))
	}

	// 3. The analysts' queries, exactly.
	analyticsWaitPastReceipts(t, store)
	results := map[string]*clickhouse.Result{}
	for _, name := range chschema.QueryNames() {
		results[name] = analyticsRun(t, store, name)
		t.Logf("analyst query %s (sample output from a real run):\n%s", name, analyticsTable(results[name]))
	}
	const order, customer = pipeline.OrderUpdated, pipeline.CustomerCreated

	// success_rate = completed / terminal, terminal = completed, dead,
	// duplicate, superseded, skipped (schemas/clickhouse/README.md).
	sr := analyticsByType(t, results["success_rate"], "received", "terminal", "completed", "dead", "duplicate", "superseded", "skipped")
	wantSR := map[string]map[string]float64{
		order: {"received": completers + 1 + 1 + 2 + 2, "terminal": completers + 1 + 1 + 1 + 1 + 1 + 1,
			"completed": completers + 3, "dead": 1, "duplicate": 1, "superseded": 1, "skipped": 0},
		customer: {"received": customers, "terminal": customers, "completed": 0, "dead": 0, "duplicate": 0, "superseded": 0, "skipped": customers},
	}
	if fmt.Sprint(sr) != fmt.Sprint(wantSR) {
		t.Errorf("success_rate figures\n got %v\nwant %v", sr, wantSR)
	}
	for _, m := range results["success_rate"].Maps() {
		term, comp := analyticsNumber(t, m["terminal"]), analyticsNumber(t, m["completed"])
		if rate := analyticsNumber(t, m["success_rate"]); !analyticsNear(rate, comp/term) {
			t.Errorf("success_rate %s: %v, want completed/terminal = %v/%v", m["event_type"], rate, comp, term)
		}
	}
	if len(results["success_rate"].Rows) == 2 { // one hour: the figures themselves
		rates := map[string]float64{}
		for _, m := range results["success_rate"].Maps() {
			rates[m["event_type"].(string)] = analyticsNumber(t, m["success_rate"])
		}
		if !analyticsNear(rates[order], 13.0/16) || !analyticsNear(rates[customer], 0) {
			t.Errorf("success rates %v, want order.updated 13/16 = 0.8125, customer.created 0", rates)
		}
	}

	dlq := analyticsByType(t, results["dlq_count"], "dead", "dead_events")
	if want := map[string]map[string]float64{order: {"dead": 1, "dead_events": 1}, customer: {"dead": 0, "dead_events": 0}}; fmt.Sprint(dlq) != fmt.Sprint(want) {
		t.Errorf("dlq_count %v, want %v", dlq, want)
	}

	rr := analyticsByType(t, results["retry_rate"], "attempts", "retries", "events", "retried_events")
	wantRR := map[string]map[string]float64{
		order:    {"attempts": 17, "retries": 1, "events": completers + 5, "retried_events": 1},
		customer: {"attempts": customers, "retries": 0, "events": customers, "retried_events": 0},
	}
	if fmt.Sprint(rr) != fmt.Sprint(wantRR) {
		t.Errorf("retry_rate figures\n got %v\nwant %v", rr, wantRR)
	}
	for _, m := range results["retry_rate"].Maps() {
		a, r := analyticsNumber(t, m["attempts"]), analyticsNumber(t, m["retries"])
		if rate := analyticsNumber(t, m["retry_rate"]); !analyticsNear(rate, r/a) {
			t.Errorf("retry_rate %s: %v, want %v/%v", m["event_type"], rate, r, a)
		}
	}

	pt := analyticsByType(t, results["processing_time"], "attempts")
	if want := map[string]map[string]float64{order: {"attempts": 17}, customer: {"attempts": customers}}; fmt.Sprint(pt) != fmt.Sprint(want) {
		t.Errorf("processing_time attempts %v, want %v", pt, want)
	}
	for _, m := range results["processing_time"].Maps() {
		avg, p95, mx := analyticsNumber(t, m["avg_ms"]), analyticsNumber(t, m["p95_ms"]), analyticsNumber(t, m["max_ms"])
		if !(avg >= 0 && p95 >= 0 && avg <= mx && p95 <= mx && mx < 60_000) {
			t.Errorf("processing_time %s: avg %v p95 %v max %v, want 0 <= avg, p95 <= max < 60 s", m["event_type"], avg, p95, mx)
		}
	}

	qt := analyticsByType(t, results["queue_time"], "events")
	if want := map[string]map[string]float64{order: {"events": completers + 5}, customer: {"events": customers}}; fmt.Sprint(qt) != fmt.Sprint(want) {
		t.Errorf("queue_time events %v, want %v", qt, want)
	}
	for _, m := range results["queue_time"].Maps() {
		avg, p95, mx := analyticsNumber(t, m["avg_queue_ms"]), analyticsNumber(t, m["p95_queue_ms"]), analyticsNumber(t, m["max_queue_ms"])
		first := analyticsNumber(t, m["avg_first_outcome_ms"])
		if !(avg >= 0 && p95 >= 0 && avg <= mx && p95 <= mx && mx < 60_000 && first >= avg) {
			t.Errorf("queue_time %s: avg %v p95 %v max %v first outcome %v, want 0 <= avg, p95 <= max < 60 s and first outcome >= queue",
				m["event_type"], avg, p95, mx, first)
		}
	}

	if v := inbox.Violations(); len(v) > 0 {
		t.Errorf("inbox contract violations: %v", v)
	}
	if n := analyticsGathered(t, sink.Registry, "shopstream_analytics_rows_invalid_total", nil); n != 0 {
		t.Errorf("sink skipped %v invalid outcome records", n)
	}
}

// analyticsGathered is the value of one counter or gauge series of a
// registry (0 when the series does not exist).
func analyticsGathered(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return analyticsSeries(mfs, name, labels)
}

func analyticsSeries(mfs []*dto.MetricFamily, name string, labels map[string]string) float64 {
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !analyticsLabelsMatch(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Untyped != nil:
				return m.Untyped.GetValue()
			}
		}
	}
	return 0
}

func analyticsLabelsMatch(m *dto.Metric, labels map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range labels {
		if have[k] != v {
			return false
		}
	}
	return true
}

// analyticsScrape reads an admin listener's /metrics over HTTP.
func analyticsScrape(t *testing.T, adminURL string) []*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s/metrics: %v", adminURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s/metrics: %s", adminURL, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s/metrics: %v", adminURL, err)
	}
	out := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		out = append(out, mf)
	}
	return out
}

// analyticsClickHouseCtl runs deploy/local/clickhouse.sh with arg.
func analyticsClickHouseCtl(t *testing.T, arg string) error {
	_, err := analyticsClickHouseScript(t, arg)
	return err
}

// analyticsClickHouseManaged says why the test's ClickHouse is not the
// server deploy/local/clickhouse.sh manages from this checkout (empty: it
// is), so the outage test never stops somebody else's server.
func analyticsClickHouseManaged(t *testing.T) string {
	out, err := analyticsClickHouseScript(t, "status")
	if err != nil {
		return err.Error()
	}
	u, err := url.Parse(analyticsClickHouseDSN(t))
	if err != nil {
		return err.Error()
	}
	if !strings.Contains(out, "native "+u.Host+",") {
		return fmt.Sprintf("the test DSN is %s, the managed server: %s", u.Host, out)
	}
	return ""
}

// analyticsClickHouseScript runs deploy/local/clickhouse.sh with arg and
// returns its output.
func analyticsClickHouseScript(t *testing.T, arg string) (string, error) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "..", "deploy", "local", "clickhouse.sh"))
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, script, arg).CombinedOutput()
	t.Logf("clickhouse.sh %s (%s): %s", arg, time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(out)))
	if err != nil {
		return string(out), fmt.Errorf("clickhouse.sh %s: %w", arg, err)
	}
	return string(out), nil
}

// TestIntegrationAnalyticsClickHouseOutage stops ClickHouse for a few
// seconds while webhooks flow: the sink counts failed inserts, stops
// committing, and after the restart every outcome is in webhook_events
// exactly once.
func TestIntegrationAnalyticsClickHouseOutage(t *testing.T) {
	dsnEnv, store := analyticsDatabase(t)
	if why := analyticsClickHouseManaged(t); why != "" {
		t.Skipf("the test ClickHouse is not the one deploy/local/clickhouse.sh manages: %s", why)
	}
	t.Cleanup(func() {
		// Whatever happened, leave ClickHouse running for the next test.
		if err := analyticsClickHouseCtl(t, "start"); err != nil {
			t.Errorf("restart ClickHouse: %v", err)
		}
	})
	inbox := analyticsStartInbox(t)
	cfg := testConfig(t, append(inbox.Env(), dsnEnv, "WEBHOOK_AUTO_SYNC_PRODUCTS=false")...)
	resetKafka(t, cfg)
	events := tailTopic(t, cfg, schemas.TopicEvents)
	startServe(t, cfg)
	startProcess(t, cfg, nil)
	sink := analyticsStartSink(t, cfg)
	failures := func() float64 {
		return analyticsGathered(t, sink.Registry, "shopstream_analytics_insert_failures_total", nil)
	}

	// 500 webhooks over ~10 s, from a goroutine, while ClickHouse goes away
	// after the first 100 and comes back after the 350th.
	const total, stopAt, startAt = 500, 100, 350
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var posted atomic.Int64
	var postErrs atomic.Int64
	postDone := make(chan struct{})
	go func() {
		defer close(postDone)
		tick := time.NewTicker(10 * time.Second / total)
		defer tick.Stop()
		for i := range total {
			<-tick.C
			body := orderBody("order.updated", 20000+i, fmt.Sprintf("outage%d@example.com", i), "shipped", "processing", base)
			if status, resp := postWebhookHeaders(t, cfg, "order", body, nil); status != http.StatusOK {
				postErrs.Add(1)
				t.Errorf("post %d: %d %s", i, status, resp)
			}
			posted.Add(1)
		}
	}()
	waitUntil(t, 30*time.Second, fmt.Sprintf("%d webhooks posted", stopAt), func() bool { return posted.Load() >= stopAt })
	beforeStop := failures()
	outageStart := time.Now()
	if err := analyticsClickHouseCtl(t, "stop"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "a failed insert while ClickHouse is down", func() bool { return failures() > beforeStop })
	during := failures()
	waitUntil(t, 60*time.Second, fmt.Sprintf("%d webhooks posted", startAt), func() bool { return posted.Load() >= startAt })
	if err := analyticsClickHouseCtl(t, "start"); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	t.Logf("ClickHouse was down for %s; %v failed inserts meanwhile", time.Since(outageStart).Round(time.Millisecond), during-beforeStop)
	<-postDone
	if postErrs.Load() > 0 {
		t.Fatalf("%d webhooks refused", postErrs.Load())
	}

	outs := events.WaitOutcomes(t, 90*time.Second, "a received and a completed outcome per webhook", func(o []pipeline.Outcome) bool {
		return countOutcomes(o, pipeline.StatusReceived) >= total && countOutcomes(o, pipeline.StatusCompleted) >= total
	})
	stream := map[outcomeKey]bool{}
	for _, o := range outs {
		stream[keyOf(o)] = true
	}
	if len(stream) != 2*total {
		t.Fatalf("%d distinct outcomes on evershop.events, want %d (one received, one completed per webhook)", len(stream), 2*total)
	}
	var finalCount, rawCount uint64
	waitUntil(t, 120*time.Second, fmt.Sprintf("%d rows in webhook_events FINAL", 2*total), func() bool {
		var err error
		finalCount, err = analyticsCount(t.Context(), store, "SELECT count() FROM webhook_events FINAL")
		return err == nil && finalCount >= uint64(2*total)
	}, func() string { return fmt.Sprintf("%d rows", finalCount) })
	rawCount, err := analyticsCount(t.Context(), store, "SELECT count() FROM webhook_events")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sink caught up %s after the restart: %d rows FINAL, %d raw (more when a failed insert had reached the server), %v insert failures in all",
		time.Since(restarted).Round(time.Millisecond), finalCount, rawCount, failures())
	if finalCount != uint64(2*total) {
		t.Errorf("webhook_events FINAL has %d rows, want %d", finalCount, 2*total)
	}
	rows := analyticsRows(t, store, true)
	for k, n := range rows {
		if !stream[k] || n != 1 {
			t.Errorf("webhook_events FINAL: %d rows for %+v (on the topic: %v), want exactly 1 of each outcome", n, k, stream[k])
		}
	}
	for k := range stream {
		if rows[k] == 0 {
			t.Errorf("outcome lost: %+v", k)
		}
	}
	if during <= beforeStop {
		t.Errorf("shopstream_analytics_insert_failures_total did not grow during the outage (%v)", during)
	}
	// The rows are visible in webhook_events as soon as the server wrote
	// them, but the INSERT returns (and the sink counts them) only after
	// the materialized views behind the table (the console's indexes) were
	// filled too: wait for the count rather than read it at once.
	visible := time.Now()
	var written float64
	waitUntil(t, 60*time.Second, fmt.Sprintf("shopstream_analytics_rows_written_total >= %d", 2*total), func() bool {
		written = analyticsGathered(t, sink.Registry, "shopstream_analytics_rows_written_total", nil)
		return written >= float64(2*total)
	}, func() string { return fmt.Sprintf("%v counted", written) })
	t.Logf("the sink counted its %v rows %s after they were visible", written, time.Since(visible).Round(time.Millisecond))
}

// analyticsPartitionOf is the partition the ingress's producer picks for a
// key (murmur2, franz-go's default for keyed records).
func analyticsPartitionOf(key string, partitions int) int32 {
	p := kgo.StickyKeyPartitioner(nil).ForTopic(schemas.TopicOrder)
	return int32(p.Partition(&kgo.Record{Key: []byte(key)}, partitions))
}

// analyticsOrderIDs picks n order ids from first on whose records land on
// one of the partitions in want, in turn.
func analyticsOrderIDs(first, n, partitions int, want ...int32) []int {
	var ids []int
	for id := first; len(ids) < n; id++ {
		if analyticsPartitionOf(fmt.Sprint(id), partitions) == want[len(ids)%len(want)] {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestIntegrationAnalyticsMetrics checks the counters after known traffic
// and the consumer lag (queue depth) while the processor is stopped.
func TestIntegrationAnalyticsMetrics(t *testing.T) {
	inbox := analyticsStartInbox(t)
	cfg := testConfig(t, append(inbox.Env(), "WEBHOOK_AUTO_SYNC_PRODUCTS=false")...)
	resetKafka(t, cfg)
	serve := startServe(t, cfg)
	proc := startProcess(t, cfg, nil)
	parts := int(cfg.Partitions)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)

	// Known traffic, all on partitions 0 and 1 of evershop.order: four
	// orders that complete, one retried once, one dead-lettered; two
	// customers (welcome off: skipped).
	ids := analyticsOrderIDs(30000, 6, parts, 0, 1)
	for i, id := range ids[:4] {
		analyticsPost(t, cfg, "order", orderBody("order.updated", id, fmt.Sprintf("m%d@example.com", i), "shipped", "processing", base), "")
	}
	inbox.FailLoginOnce("m-flaky@example.com", http.StatusServiceUnavailable)
	analyticsPost(t, cfg, "order", orderBody("order.updated", ids[4], "m-flaky@example.com", "shipped", "processing", base), "")
	inbox.FailLoginAlways("m-gone@example.com", http.StatusBadRequest)
	analyticsPost(t, cfg, "order", orderBody("order.updated", ids[5], "m-gone@example.com", "shipped", "processing", base), "")
	for i := range 2 {
		analyticsPost(t, cfg, "customer", customerBody(31000+i, fmt.Sprintf("mc%d@example.com", i), "Metric Customer", base), "")
	}

	processed := func(g prometheus.Gatherer, typ, outcome string) float64 {
		return analyticsGathered(t, g, "shopstream_events_processed_total", map[string]string{"event_type": typ, "outcome": outcome})
	}
	waitUntil(t, 60*time.Second, "every event processed", func() bool {
		return processed(proc.Registry, pipeline.OrderUpdated, "completed") >= 5 &&
			processed(proc.Registry, pipeline.OrderUpdated, "dead") >= 1 &&
			processed(proc.Registry, pipeline.CustomerCreated, "skipped") >= 2
	})
	for _, c := range []struct {
		typ, outcome string
		want         float64
	}{
		{pipeline.OrderUpdated, "completed", 5},
		{pipeline.OrderUpdated, "retrying", 1},
		{pipeline.OrderUpdated, "dead", 1},
		{pipeline.OrderUpdated, "duplicate", 0},
		{pipeline.CustomerCreated, "skipped", 2},
		{pipeline.CustomerCreated, "completed", 0},
	} {
		if got := processed(proc.Registry, c.typ, c.outcome); got != c.want {
			t.Errorf("shopstream_events_processed_total{event_type=%q,outcome=%q} = %v, want %v", c.typ, c.outcome, got, c.want)
		}
	}
	if got := analyticsGathered(t, proc.Registry, "shopstream_dlq_records_total", map[string]string{"event_type": pipeline.OrderUpdated}); got != 1 {
		t.Errorf("shopstream_dlq_records_total{event_type=order.updated} = %v, want 1", got)
	}
	for i, d := range cfg.RetryTiers {
		want := 0.0
		if i == 0 {
			want = 1
		}
		tier := schemas.RetryTopic(d)
		if got := analyticsGathered(t, proc.Registry, "shopstream_retries_total", map[string]string{"tier": tier}); got != want {
			t.Errorf("shopstream_retries_total{tier=%q} = %v, want %v", tier, got, want)
		}
	}
	ingress := analyticsScrape(t, serve.AdminURL)
	for _, c := range []struct {
		kind string
		want float64
	}{{"order", 6}, {"customer", 2}, {"product", 0}} {
		if got := analyticsSeries(ingress, "shopstream_webhooks_received_total", map[string]string{"kind": c.kind, "outcome": "accepted"}); got != c.want {
			t.Errorf("/metrics shopstream_webhooks_received_total{kind=%q,outcome=\"accepted\"} = %v, want %v", c.kind, got, c.want)
		}
	}

	// Queue depth: with the processor stopped, K events on evershop.order
	// (one per partition, so partitions the group never committed on count
	// too) are K records of lag; once it runs again the lag drains to 0.
	if err := proc.Stop(); err != nil {
		t.Fatal(err)
	}
	lagReg := prometheus.NewRegistry()
	mon := kafka.NewLagMonitor(kafkaAdmin(t, cfg), schemas.GroupTopics(cfg.RetryTiers, schemas.GroupProcessor), time.Hour, slog.New(slog.DiscardHandler), lagReg)
	measure := func() int64 {
		t.Helper()
		lags, err := mon.Measure(t.Context())
		if err != nil {
			t.Fatalf("measure lag: %v", err)
		}
		return lags[schemas.GroupProcessor][schemas.TopicOrder]
	}
	if lag := measure(); lag != 0 {
		t.Fatalf("lag before the new events = %d, want 0 (everything processed was committed on stop)", lag)
	}
	allParts := make([]int32, parts)
	for i := range allParts {
		allParts[i] = int32(i)
	}
	K := parts + 1
	for i, id := range analyticsOrderIDs(32000, K, parts, allParts...) {
		analyticsPost(t, cfg, "order", orderBody("order.updated", id, fmt.Sprintf("q%d@example.com", i), "shipped", "processing", base), "")
	}
	if lag := measure(); lag != int64(K) {
		t.Errorf("shopstream_consumer_lag measured %d with the processor stopped after %d events, want %d", lag, K, K)
	}
	lagSeries := map[string]string{"group": schemas.GroupProcessor, "topic": schemas.TopicOrder}
	if got := analyticsGathered(t, lagReg, "shopstream_consumer_lag", lagSeries); got != float64(K) {
		t.Errorf("shopstream_consumer_lag{group=%q,topic=%q} = %v, want %d", schemas.GroupProcessor, schemas.TopicOrder, got, K)
	}
	if got := analyticsSeries(analyticsScrape(t, serve.AdminURL), "shopstream_webhooks_received_total",
		map[string]string{"kind": "order", "outcome": "accepted"}); got != float64(6+K) {
		t.Errorf("/metrics shopstream_webhooks_received_total{kind=\"order\",outcome=\"accepted\"} = %v, want %d", got, 6+K)
	}

	again := startProcess(t, cfg, nil)
	waitUntil(t, 60*time.Second, fmt.Sprintf("%d events processed after the restart", K), func() bool {
		return processed(again.Registry, pipeline.OrderUpdated, "completed") >= float64(K)
	})
	var lag int64
	waitUntil(t, 30*time.Second, "lag back to 0", func() bool {
		lag = measure()
		return lag == 0
	}, func() string { return fmt.Sprintf("lag %d", lag) })
	if got := analyticsGathered(t, lagReg, "shopstream_consumer_lag", lagSeries); got != 0 {
		t.Errorf("shopstream_consumer_lag gauge = %v after the drain, want 0", got)
	}
	if got := processed(again.Registry, pipeline.OrderUpdated, "completed"); got != float64(K) {
		t.Errorf("restarted processor completed %v events, want %d (nothing handled twice)", got, K)
	}
	if v := inbox.Violations(); len(v) > 0 {
		t.Errorf("inbox contract violations: %v", v)
	}
}

// TestIntegrationAnalyticsLagBeforeFirstCommit: a processor group that has
// never committed (it has not started yet, or crashed before its first
// commit) has the whole topic as its queue; LagMonitor documents that such
// a group "counts everything from the start".
func TestIntegrationAnalyticsLagBeforeFirstCommit(t *testing.T) {
	inbox := analyticsStartInbox(t)
	cfg := testConfig(t, append(inbox.Env(), "WEBHOOK_AUTO_SYNC_PRODUCTS=false")...)
	resetKafka(t, cfg)
	startServe(t, cfg)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	const K = 5
	for i := range K {
		analyticsPost(t, cfg, "order", orderBody("order.updated", 33000+i, fmt.Sprintf("early%d@example.com", i), "shipped", "processing", base), "")
	}
	mon := kafka.NewLagMonitor(kafkaAdmin(t, cfg), schemas.GroupTopics(cfg.RetryTiers, schemas.GroupProcessor), time.Hour, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	measure := func() (int64, bool) {
		t.Helper()
		lags, err := mon.Measure(t.Context())
		if err != nil {
			t.Fatalf("measure lag: %v", err)
		}
		lag, ok := lags[schemas.GroupProcessor][schemas.TopicOrder]
		return lag, ok
	}
	if lag, ok := measure(); !ok || lag != K {
		t.Errorf("lag of %s on %s before its first commit = %d (reported: %v), want %d: the queue is invisible until the group commits once",
			schemas.GroupProcessor, schemas.TopicOrder, lag, ok, K)
	}

	proc := startProcess(t, cfg, nil)
	waitUntil(t, 60*time.Second, fmt.Sprintf("%d events processed", K), func() bool {
		return analyticsGathered(t, proc.Registry, "shopstream_events_processed_total",
			map[string]string{"event_type": pipeline.OrderUpdated, "outcome": "completed"}) >= K
	})
	var lag int64
	waitUntil(t, 30*time.Second, "lag 0 once processed", func() bool {
		var ok bool
		lag, ok = measure()
		return ok && lag == 0
	}, func() string { return fmt.Sprintf("lag %d", lag) })
}
