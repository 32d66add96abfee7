package main

// Integration tests of `shopstream process` against the real broker: catalog
// sync for a whole group, at-least-once delivery across kill -9, retries,
// the DLQ and both replay paths of the runbook, an inbox outage, superseded
// status updates, and retry tiers that never stall the poll loop. The
// harness (harness_test.go) resets Kafka at the start of each test.

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/coze/cozetest"
	"github.com/shopstream/shopstream/connectors/evershop/evershoptest"
	"github.com/shopstream/shopstream/connectors/inbox/inboxtest"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/replay"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

const (
	shopEmail    = "admin@example.com"
	shopPassword = "admin-password"
)

// terminal reports whether an outcome ends an attempt chain (everything but
// the ingress's received and a hand-over to a retry tier).
func terminal(s pipeline.Status) bool {
	return s != pipeline.StatusReceived && s != pipeline.StatusRetrying
}

// noViolations fails the test if a fake saw a request that breaks its API.
func noViolations(t *testing.T, name string, v []string) {
	t.Helper()
	if len(v) > 0 {
		t.Errorf("%s contract violations: %q", name, v)
	}
}

// catalogRows decodes a catalog document, keyed by product id.
func catalogRows(t *testing.T, content []byte) map[string]map[string]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(content)).ReadAll()
	if err != nil {
		t.Fatalf("catalog document is not CSV: %v", err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], pipeline.CatalogCSVHeader) {
		t.Fatalf("catalog header %v, want %v", recs[:min(1, len(recs))], pipeline.CatalogCSVHeader)
	}
	rows := map[string]map[string]string{}
	for _, r := range recs[1:] {
		row := map[string]string{}
		for i, col := range recs[0] {
			row[col] = r[i]
		}
		if _, dup := rows[row["id"]]; dup {
			t.Errorf("product %s appears twice in the catalog", row["id"])
		}
		rows[row["id"]] = row
	}
	return rows
}

func canonical(t *testing.T, price string) string {
	t.Helper()
	c, err := pipeline.CanonicalPrice(price)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// catalogSyncs sums shopstream_catalog_syncs_total by result over the
// processors' registries.
func catalogSyncs(t *testing.T, roles ...*role) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, r := range roles {
		for _, res := range []string{"uploaded", "unchanged", "failed"} {
			out[res] += metricSum(t, r.Registry, "shopstream_catalog_syncs_total", map[string]string{"result": res})
		}
	}
	return out
}

// productBurst is 1,000 product events over 200 ids: every product is
// created, updated four times, and the last 20 are deleted by their fifth
// event. Lanes hold one product's events each, in order.
func productBurst() (lanes [][]webhook, ids []string, final map[string][2]string, deleted []string) {
	const products, versions = 200, 5
	final = map[string][2]string{}
	lanes = make([][]webhook, products)
	start := time.Now().Add(-time.Minute)
	for v := range versions {
		for p := 1; p <= products; p++ {
			name := fmt.Sprintf("Product %d v%d", p, v)
			price := fmt.Sprintf("%d.%02d", 10+p, (v*7+p)%100)
			ts := start.Add(time.Duration(v*products+p) * time.Millisecond)
			var body []byte
			switch {
			case v == versions-1 && p > products-20:
				body = mustJSON(map[string]any{"event": pipeline.ProductDeleted, "timestamp": ts.UTC().Format(time.RFC3339Nano),
					"data": map[string]any{"id": p}})
				deleted = append(deleted, strconv.Itoa(p))
				delete(final, strconv.Itoa(p))
			case v == 0:
				body = productBody(pipeline.ProductCreated, p, name, price, ts)
				final[strconv.Itoa(p)] = [2]string{name, price}
			default:
				body = productBody(pipeline.ProductUpdated, p, name, price, ts)
				final[strconv.Itoa(p)] = [2]string{name, price}
			}
			lanes[p-1] = append(lanes[p-1], webhook{"product", body})
			ids = append(ids, pipeline.BodyEventID(body))
		}
	}
	return lanes, ids, final, deleted
}

// TestIntegrationCatalogBurstStateSource: a burst of 1,000 product events
// through the real ingress, two processor instances in the same groups, the
// catalog read from the state topic. The window is measured on when the
// ingress accepted the events and closes only once the processors caught
// up, so however slowly the marks arrive (a loaded machine), the whole group
// runs exactly one regeneration when the burst was accepted within the quiet
// period, and the knowledge base ends up with every surviving product's
// final state.
func TestIntegrationCatalogBurstStateSource(t *testing.T) {
	inbox := inboxtest.Start(t, inboxToken)
	kb := cozetest.Start(t, cozeToken, cozeDataset)
	kb.SetProcessPolls(0)
	// The default window (2 s quiet, 30 s max wait): the max wait only
	// bounds a store that never goes quiet, so it must not cut this burst.
	cfg := testConfig(t, append(append(inboxEnv(inbox), cozeEnv(kb)...),
		"SHOPSTREAM_CATALOG_QUIET=2s", "SHOPSTREAM_CATALOG_MAX_WAIT=30s")...)
	resetKafka(t, cfg)
	events := tailTopic(t, cfg, schemas.TopicEvents)
	startServe(t, cfg)
	p1 := startProcess(t, cfg, newRegistry())
	p2 := startProcess(t, cfg, newRegistry())
	waitGroupMembers(t, cfg, schemas.GroupProcessor, 2, 30*time.Second)
	waitGroupMembers(t, cfg, schemas.GroupCatalog, 2, 30*time.Second)

	lanes, ids, final, deleted := productBurst()
	took := postLanes(t, cfg, lanes)
	t.Logf("posted %d product events in %s", len(ids), took.Round(time.Millisecond))

	outs := events.WaitOutcomes(t, 90*time.Second, "every product event completed by a sync", func(o []pipeline.Outcome) bool {
		return completedAll(o, ids)
	})
	uploads := kb.Uploads()
	syncs := catalogSyncs(t, p1, p2)
	t.Logf("catalog syncs: %v; Coze uploads: %d; outcomes: %d completed for %d events",
		syncs, uploads, countOutcomes(outs, pipeline.StatusCompleted), len(ids))
	// The burst's own accept times decide, not the wall time of posting.
	accepted := acceptSpan(outs, ids)
	t.Logf("accepted within %s", accepted.Round(time.Millisecond))
	if accepted < cfg.CatalogQuiet && uploads != 1 {
		t.Errorf("the burst was accepted within %s (< quiet %s) but the catalog was uploaded %d times, want once", accepted, cfg.CatalogQuiet, uploads)
	}
	if uploads < 1 || uploads > 2 {
		t.Errorf("catalog uploaded %d times for one burst, want 1 (2 at most)", uploads)
	}
	if n := syncs["uploaded"] + syncs["unchanged"]; n < float64(uploads) || n > float64(uploads) {
		t.Errorf("%v syncs ran for %d uploads", syncs, uploads)
	}
	if syncs["failed"] > 0 {
		t.Errorf("%v catalog syncs failed", syncs["failed"])
	}

	docs := kb.Documents()
	if len(docs) != 1 {
		t.Fatalf("knowledge base holds %d documents, want the one current catalog", len(docs))
	}
	rows := catalogRows(t, docs[0].Content)
	if len(rows) != len(final) {
		t.Errorf("catalog has %d products, want %d", len(rows), len(final))
	}
	for id, want := range final {
		row, ok := rows[id]
		switch {
		case !ok:
			t.Errorf("product %s is missing from the catalog", id)
		case row["name"] != want[0] || row["price"] != canonical(t, want[1]):
			t.Errorf("product %s: name %q price %q, want its final state %q %q", id, row["name"], row["price"], want[0], canonical(t, want[1]))
		}
	}
	for _, id := range deleted {
		if _, ok := rows[id]; ok {
			t.Errorf("deleted product %s is still in the catalog", id)
		}
	}
	if n := countOutcomes(outs, pipeline.StatusDead); n > 0 {
		t.Errorf("%d product events dead-lettered", n)
	}
	// Covered marks are committed once the knowledge base has the catalog;
	// the processor group commits what it marked within a second.
	waitUntil(t, 15*time.Second, "both groups committed everything", func() bool {
		return groupLag(t, cfg, schemas.GroupCatalog, schemas.TopicCatalogSync) == 0 &&
			groupLag(t, cfg, schemas.GroupProcessor, schemas.SourceTopics...) == 0
	})
	noViolations(t, "coze", kb.Violations())
}

// acceptSpan is the time between the first and the last ingress accept
// (received-at) of the events ids.
func acceptSpan(outs []pipeline.Outcome, ids []string) time.Duration {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var first, last time.Time
	for _, o := range outs {
		if !want[o.EventID] || o.ReceivedAt.IsZero() {
			continue
		}
		if first.IsZero() || o.ReceivedAt.Before(first) {
			first = o.ReceivedAt
		}
		if o.ReceivedAt.After(last) {
			last = o.ReceivedAt
		}
	}
	return last.Sub(first)
}

// TestIntegrationCatalogBurstEverShopSource: the same burst with the catalog
// read from EverShop's admin API: the document holds the store's products,
// not what the events said.
func TestIntegrationCatalogBurstEverShopSource(t *testing.T) {
	inbox := inboxtest.Start(t, inboxToken)
	kb := cozetest.Start(t, cozeToken, cozeDataset)
	kb.SetProcessPolls(0)
	shop := evershoptest.Start(t, shopEmail, shopPassword)
	var items = make(map[string][2]string)
	for id := int64(1); id <= 150; id++ {
		name, price := fmt.Sprintf("Store product %d", id), float64(id)+0.5
		shop.Upsert(evershoptest.Product(id, fmt.Sprintf("STORE-%d", id), name, price))
		items[strconv.FormatInt(id, 10)] = [2]string{name, strconv.FormatFloat(price, 'f', -1, 64)}
	}
	cfg := testConfig(t, append(append(inboxEnv(inbox), cozeEnv(kb)...),
		"EVERSHOP_API_URL="+shop.URL, "EVERSHOP_ADMIN_EMAIL="+shopEmail, "EVERSHOP_ADMIN_PASSWORD="+shopPassword)...)
	resetKafka(t, cfg)
	events := tailTopic(t, cfg, schemas.TopicEvents)
	startServe(t, cfg)
	p1 := startProcess(t, cfg, newRegistry())
	p2 := startProcess(t, cfg, newRegistry())
	waitGroupMembers(t, cfg, schemas.GroupProcessor, 2, 30*time.Second)
	waitGroupMembers(t, cfg, schemas.GroupCatalog, 2, 30*time.Second)

	lanes, ids, _, _ := productBurst()
	took := postLanes(t, cfg, lanes)
	t.Logf("posted %d product events in %s", len(ids), took.Round(time.Millisecond))
	events.WaitOutcomes(t, 90*time.Second, "every product event completed by a sync", func(o []pipeline.Outcome) bool {
		return completedAll(o, ids)
	})
	uploads := kb.Uploads()
	syncs := catalogSyncs(t, p1, p2)
	t.Logf("catalog syncs: %v; Coze uploads: %d; EverShop pages served: %v", syncs, uploads, shop.PagesServed())
	if uploads != 1 {
		// The content comes from the store, which did not change during the
		// burst: a second sync finds the same hash and uploads nothing.
		t.Errorf("catalog uploaded %d times, want once (an unchanged catalog is not uploaded again)", uploads)
	}
	docs := kb.Documents()
	if len(docs) != 1 {
		t.Fatalf("knowledge base holds %d documents, want 1", len(docs))
	}
	rows := catalogRows(t, docs[0].Content)
	if len(rows) != len(items) {
		t.Errorf("catalog has %d products, want the store's %d", len(rows), len(items))
	}
	for id, want := range items {
		row := rows[id]
		if row == nil || row["name"] != want[0] || row["price"] != canonical(t, want[1]) || row["sku"] != "STORE-"+id {
			t.Errorf("product %s: %v, want name %q price %q", id, row, want[0], canonical(t, want[1]))
		}
	}
	noViolations(t, "coze", kb.Violations())
	noViolations(t, "evershop", shop.Violations())
}

// TestIntegrationKill9 runs `shopstream process` as a real process, kills it
// with SIGKILL while the inbox has received some of the notifications, and
// restarts it: every event reaches the customer exactly once.
func TestIntegrationKill9(t *testing.T) {
	serveCfg := testConfig(t) // skips without a broker, before the build
	inbox := inboxtest.Start(t, inboxToken)
	bin := buildShopstream(t)
	procEnv := testEnv(t, append(inboxEnv(inbox), "WEBHOOK_SEND_WELCOME_MESSAGE=true", "WEBHOOK_AUTO_SYNC_PRODUCTS=false")...)
	resetKafka(t, serveCfg)
	events := tailTopic(t, serveCfg, schemas.TopicEvents)
	startServe(t, serveCfg)

	adminAddr := envValue(procEnv, "SHOPSTREAM_ADMIN_ADDR")
	first := startSubprocess(t, bin, procEnv, "process")
	first.waitReady(t, adminAddr)
	inbox.SetLatency(5 * time.Millisecond)

	var ids []string
	lanes := make([][]webhook, 32)
	updated := time.Now().Add(-time.Hour)
	for o := 1; o <= 300; o++ {
		body := orderBody(pipeline.OrderUpdated, o, fmt.Sprintf("order%d@example.com", o), "processing", "new", updated)
		lanes[o%32] = append(lanes[o%32], webhook{"order", body})
		ids = append(ids, pipeline.BodyEventID(body))
	}
	for c := 1; c <= 20; c++ {
		body := customerBody(c, fmt.Sprintf("customer%d@example.com", c), fmt.Sprintf("Customer %d", c), updated)
		lanes[c%32] = append(lanes[c%32], webhook{"customer", body})
		ids = append(ids, pipeline.BodyEventID(body))
	}
	postLanes(t, serveCfg, lanes)

	waitUntil(t, 30*time.Second, "the first notifications", func() bool {
		d, _ := inbox.MessagePosts()
		return d >= 20
	})
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	atKill, _ := inbox.MessagePosts()
	if atKill >= len(ids) {
		t.Fatalf("all %d notifications were delivered before the kill; the test proves nothing (raise the inbox latency)", atKill)
	}
	t.Logf("killed with -9 after %d of %d notifications", atKill, len(ids))

	second := startSubprocess(t, bin, procEnv, "process")
	second.waitReady(t, adminAddr)
	waitUntil(t, 90*time.Second, "every notification after the restart", func() bool {
		d, _ := inbox.MessagePosts()
		return d >= len(ids)
	}, func() string { d, total := inbox.MessagePosts(); return fmt.Sprintf("%d distinct, %d posts", d, total) })
	outs := events.WaitOutcomes(t, 30*time.Second, "a completed outcome for every event", func(o []pipeline.Outcome) bool {
		return completedAll(o, ids)
	})

	// A graceful stop must end the process (SIGTERM, as Kubernetes sends).
	stopStart := time.Now()
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.done:
		if second.err != nil {
			t.Errorf("shopstream process exited with %v after SIGTERM", second.err)
		}
		t.Logf("shopstream process stopped %s after SIGTERM", time.Since(stopStart).Round(time.Millisecond))
	case <-time.After(45 * time.Second):
		t.Errorf("shopstream process did not stop within 45 s of SIGTERM")
	}
	// It committed what it handled on the way out.
	if lag := groupLag(t, serveCfg, schemas.GroupProcessor, schemas.ProcessorTopics(serveCfg.RetryTiers)...); lag != 0 {
		t.Errorf("processor group lag %d after a graceful stop, want 0", lag)
	}

	distinct, total := inbox.MessagePosts()
	if distinct != len(ids) || total < distinct {
		t.Errorf("inbox stored %d messages (%d POSTs) for %d events", distinct, total, len(ids))
	}
	for _, m := range inbox.AllMessages() {
		if n := len(inbox.Messages(m.Email)); n != 1 {
			t.Errorf("%s got %d messages, want 1", m.Email, n)
		}
	}

	// evershop.events is at-least-once too. A record handled by the killed
	// process whose offset was not yet committed is handled again by the
	// next one: the inbox answers its Idempotency-Key with the stored
	// message, and the processor writes the same outcome again, with the
	// same (event_id, status, attempt, topic, partition, offset). Those
	// repeats are what ClickHouse's ReplacingMergeTree collapses (the
	// sorting key of webhook_events is event_type plus that tuple, see
	// schemas/clickhouse/migrations/0001), so analysts see one row per
	// attempt. Conversely an outcome the killed process had buffered but
	// not yet written is lost with it (outcomes are produced
	// asynchronously); the restart writes it again for every record whose
	// offset was not committed, which is every record the test checks. What
	// must never happen is a second, different terminal outcome for an
	// event (a second "completed" from another offset would be a second
	// delivery; "duplicate" would mean the idempotency check had to catch
	// it).
	type key struct {
		status    pipeline.Status
		attempt   int
		topic     string
		partition int32
		offset    int64
	}
	keys := map[string]map[key]int{}
	for _, o := range outs {
		if !terminal(o.Status) {
			continue
		}
		if keys[o.EventID] == nil {
			keys[o.EventID] = map[key]int{}
		}
		keys[o.EventID][key{o.Status, o.Attempt, o.Topic, o.Partition, o.Offset}]++
	}
	repeated := 0
	for _, id := range ids {
		ks := keys[id]
		if len(ks) != 1 {
			t.Errorf("event %s has %d distinct terminal outcomes %v, want exactly one", id, len(ks), ks)
			continue
		}
		for k, n := range ks {
			if k.status != pipeline.StatusCompleted || k.attempt != 1 {
				t.Errorf("event %s: terminal outcome %+v, want completed at attempt 1", id, k)
			}
			if n > 1 {
				repeated++
			}
		}
	}
	t.Logf("inbox: %d distinct messages, %d POSTs; %d events handled again after the restart (same outcome key)",
		distinct, total, repeated)
	noViolations(t, "inbox", inbox.Violations())
}

// dlqHeaders are the DLQ record headers docs/contract.md makes a contract.
var dlqHeaders = []string{
	schemas.HeaderOriginalTopic, schemas.HeaderOriginalPartition, schemas.HeaderOriginalOffset,
	schemas.HeaderEventID, schemas.HeaderEventType, schemas.HeaderAttempts,
	schemas.HeaderError, schemas.HeaderFailedAt, schemas.HeaderReceivedAt,
}

// sourceRecord finds the record of an event on a source topic.
func sourceRecord(t *testing.T, cfg Config, topic, eventID string) *kgo.Record {
	t.Helper()
	for _, r := range readAll(t, cfg, topic, 0, 30*time.Second) {
		if kafka.Header(r, schemas.HeaderEventID) == eventID {
			return r
		}
	}
	t.Fatalf("event %s is not on %s", eventID, topic)
	return nil
}

// TestIntegrationRetriesDLQAndReplay: transient failures climb the retry
// tiers and are delivered; a permanent failure lands in the DLQ with the
// original body and every contract header; both replay paths of the README
// runbook put dead letters back and they are delivered once.
func TestIntegrationRetriesDLQAndReplay(t *testing.T) {
	inbox := inboxtest.Start(t, inboxToken)
	env := testEnv(t, append(inboxEnv(inbox), "WEBHOOK_AUTO_SYNC_PRODUCTS=false")...)
	cfg := configFromEnv(t, env)
	resetKafka(t, cfg)
	events := tailTopic(t, cfg, schemas.TopicEvents)
	startServe(t, cfg)
	startProcess(t, cfg, nil)
	at := time.Now().Add(-time.Hour)

	post := func(order int, status string) ([]byte, string) {
		t.Helper()
		body := orderBody(pipeline.OrderUpdated, order, fmt.Sprintf("retry%d@example.com", order), status, "new", at)
		if st := postWebhook(t, cfg, "order", body); st != http.StatusOK {
			t.Fatalf("post order %d: %d", order, st)
		}
		return body, pipeline.BodyEventID(body)
	}

	t.Run("two 500s then delivered", func(t *testing.T) {
		inbox.FailPathNext(inboxtest.PathMessages, 2, http.StatusInternalServerError)
		_, id := post(1, "processing")
		outs := events.WaitOutcomes(t, 30*time.Second, "completed after retries", func(o []pipeline.Outcome) bool {
			return countOutcomes(o, pipeline.StatusCompleted, id) == 1
		})
		var got []string
		for _, o := range outcomesOf(outs, id) {
			got = append(got, fmt.Sprintf("%s@%d", o.Status, o.Attempt))
		}
		if want := []string{"retrying@1", "retrying@2", "completed@3"}; !slices.Equal(got, want) {
			t.Errorf("outcomes %v, want %v", got, want)
		}
		for i, d := range cfg.RetryTiers[:2] {
			recs := readAll(t, cfg, schemas.RetryTopic(d), 1, 10*time.Second)
			if len(recs) != 1 || kafka.Header(recs[0], schemas.HeaderEventID) != id {
				t.Fatalf("%s holds %d records, want the event once", schemas.RetryTopic(d), len(recs))
			}
			r := recs[0]
			if kafka.HeaderInt(r, schemas.HeaderAttempts, 0) != i+1 || kafka.DueAt(r).IsZero() ||
				kafka.Header(r, schemas.HeaderOriginalTopic) != schemas.TopicOrder || string(r.Key) != "1" {
				t.Errorf("%s record: key %q headers %v", r.Topic, r.Key, r.Headers)
			}
		}
		if n := len(inbox.Messages("retry1@example.com")); n != 1 {
			t.Errorf("customer got %d messages, want 1", n)
		}
		if n := inbox.Requests(inboxtest.PathMessages); n != 3 {
			t.Errorf("%d message POSTs, want 3 (two failed, one stored)", n)
		}
	})

	var deadBody []byte
	var deadID string
	t.Run("400 goes to the DLQ", func(t *testing.T) {
		inbox.FailPathNext(inboxtest.PathMessages, 1, http.StatusBadRequest)
		deadBody, deadID = post(2, "shipped")
		events.WaitOutcomes(t, 30*time.Second, "dead", func(o []pipeline.Outcome) bool {
			return countOutcomes(o, pipeline.StatusDead, deadID) == 1
		})
		src := sourceRecord(t, cfg, schemas.TopicOrder, deadID)
		dlq := readAll(t, cfg, schemas.TopicDLQ, 1, 10*time.Second)
		if len(dlq) != 1 {
			t.Fatalf("DLQ holds %d records, want 1", len(dlq))
		}
		r := dlq[0]
		if !bytes.Equal(r.Value, deadBody) {
			t.Errorf("DLQ value differs from the posted body:\n got %s\nwant %s", r.Value, deadBody)
		}
		if string(r.Key) != "2" {
			t.Errorf("DLQ key %q, want the order id 2", r.Key)
		}
		for _, h := range dlqHeaders {
			if kafka.Header(r, h) == "" {
				t.Errorf("DLQ record lacks header %s (headers %v)", h, r.Headers)
			}
		}
		want := map[string]string{
			schemas.HeaderOriginalTopic:     schemas.TopicOrder,
			schemas.HeaderOriginalPartition: strconv.Itoa(int(src.Partition)),
			schemas.HeaderOriginalOffset:    strconv.FormatInt(src.Offset, 10),
			schemas.HeaderEventID:           deadID,
			schemas.HeaderEventType:         pipeline.OrderUpdated,
			schemas.HeaderAttempts:          "1",
			schemas.HeaderReceivedAt:        kafka.Header(src, schemas.HeaderReceivedAt),
		}
		for h, v := range want {
			if got := kafka.Header(r, h); got != v {
				t.Errorf("DLQ header %s = %q, want %q", h, got, v)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, kafka.Header(r, schemas.HeaderFailedAt)); err != nil {
			t.Errorf("DLQ header %s: %v", schemas.HeaderFailedAt, err)
		}
		if e := kafka.Header(r, schemas.HeaderError); !strings.Contains(e, "400") {
			t.Errorf("DLQ header %s = %q, want the inbox's 400", schemas.HeaderError, e)
		}
		if r.Partition != src.Partition {
			t.Errorf("DLQ partition %d, source partition %d: same key, same partition expected", r.Partition, src.Partition)
		}
		if n := len(inbox.Messages("retry2@example.com")); n != 0 {
			t.Errorf("customer got %d messages for a dead letter", n)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("replay with kcat as in the runbook", func(t *testing.T) {
		if _, err := exec.LookPath("kcat"); err != nil {
			t.Fatalf("kcat is not installed: %v", err)
		}
		// The fake's failure was one-shot: the inbox accepts the event now.
		brokers := strings.Join(cfg.KafkaBrokers, ",")
		before := endOffsets(t, cfg, schemas.TopicOrder)
		script := fmt.Sprintf(`set -o pipefail; kcat -b %[1]s -C -t %[2]s -e -f '%%k\t%%s\n' -q | kcat -b %[1]s -P -t %[3]s -K '\t' -X partitioner=murmur2_random`,
			brokers, schemas.TopicDLQ, schemas.TopicOrder)
		if out, err := exec.Command("bash", "-c", script).CombinedOutput(); err != nil {
			t.Fatalf("kcat replay: %v\n%s", err, out)
		}
		if after := endOffsets(t, cfg, schemas.TopicOrder); after != before+1 {
			t.Fatalf("kcat put %d records on %s, want 1", after-before, schemas.TopicOrder)
		}
		outs := events.WaitOutcomes(t, 30*time.Second, "the replayed event completed", func(o []pipeline.Outcome) bool {
			return countOutcomes(o, pipeline.StatusCompleted, deadID) == 1
		})
		// kcat carries no headers: the processor re-derived the event id
		// from the body, which is the id the ingress gave it.
		orig := sourceRecord(t, cfg, schemas.TopicOrder, deadID)
		for _, o := range outcomesOf(outs, deadID) {
			if o.Status == pipeline.StatusCompleted {
				if o.Topic != schemas.TopicOrder || o.Offset == orig.Offset {
					t.Errorf("completed outcome at %s/%d@%d, want the replayed record", o.Topic, o.Partition, o.Offset)
				}
				if o.Partition != orig.Partition {
					t.Errorf("kcat's murmur2 put the replay in partition %d, the ingress used %d", o.Partition, orig.Partition)
				}
			}
		}
		msgs := inbox.Messages("retry2@example.com")
		if len(msgs) != 1 || msgs[0].IdempotencyKey != deadID {
			t.Errorf("customer got %+v, want one message keyed %s", msgs, deadID)
		}
	})

	t.Run("shopstream replay with --event-id, resumable", func(t *testing.T) {
		inbox.FailPathNext(inboxtest.PathMessages, 1, http.StatusUnprocessableEntity)
		_, id := post(3, "delivered")
		events.WaitOutcomes(t, 30*time.Second, "dead", func(o []pipeline.Outcome) bool {
			return countOutcomes(o, pipeline.StatusDead, id) == 1
		})
		if n := len(readAll(t, cfg, schemas.TopicDLQ, 0, 10*time.Second)); n != 2 {
			t.Fatalf("DLQ holds %d records, want 2", n)
		}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		before := endOffsets(t, cfg, schemas.TopicOrder)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if err := runReplay(ctx, []string{"--event-id", id, "--rate", "0"}); err != nil {
			t.Fatalf("shopstream replay: %v", err)
		}
		if after := endOffsets(t, cfg, schemas.TopicOrder); after != before+1 {
			t.Errorf("replay put %d records on %s, want 1 (the other dead letter is filtered out)", after-before, schemas.TopicOrder)
		}
		outs := events.WaitOutcomes(t, 30*time.Second, "the replayed event completed", func(o []pipeline.Outcome) bool {
			return countOutcomes(o, pipeline.StatusCompleted, id) == 1
		})
		if msgs := inbox.Messages("retry3@example.com"); len(msgs) != 1 || msgs[0].IdempotencyKey != id {
			t.Errorf("customer got %+v, want one message keyed %s", msgs, id)
		}
		if n := countOutcomes(outs, pipeline.StatusCompleted, deadID) + countOutcomes(outs, pipeline.StatusDuplicate, deadID); n != 1 {
			t.Errorf("the kcat-replayed event was handled %d more times", n-1)
		}

		// A second run finds nothing left for its group.
		filter, err := pipeline.ParseReplayFilter("", id, "", "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		prog, err := replay.Replay(ctx, kafkaConfig(cfg), replay.Config{Group: schemas.GroupReplay, Filter: filter}, testLogger(t))
		if err != nil {
			t.Fatalf("second replay: %v", err)
		}
		if prog.Total != 0 || prog.Replayed != 0 {
			t.Errorf("second replay: %+v, want nothing pending", prog)
		}
		if after := endOffsets(t, cfg, schemas.TopicOrder); after != before+1 {
			t.Errorf("after the second replay %s grew by %d records, want 1 in all", schemas.TopicOrder, after-before)
		}
	})
	noViolations(t, "inbox", inbox.Violations())
}

// TestIntegrationInboxOutage: the inbox is down for 60 s while 100 order
// events arrive over the first 20 s. The breaker holds the events instead
// of pushing them through the tiers: none is dead-lettered, all are
// delivered once the inbox is back, each once.
func TestIntegrationInboxOutage(t *testing.T) {
	inbox := inboxtest.Start(t, inboxToken)
	cfg := testConfig(t, append(inboxEnv(inbox), "WEBHOOK_AUTO_SYNC_PRODUCTS=false")...)
	resetKafka(t, cfg)
	events := tailTopic(t, cfg, schemas.TopicEvents)
	startServe(t, cfg)
	startProcess(t, cfg, nil)

	inbox.SetDown(true)
	down := time.Now()
	const n = 100
	var ids []string
	at := time.Now().Add(-time.Hour)
	for o := 1; o <= n; o++ {
		body := orderBody(pipeline.OrderUpdated, o, fmt.Sprintf("outage%d@example.com", o), "shipped", "processing", at)
		ids = append(ids, pipeline.BodyEventID(body))
		if st := postWebhook(t, cfg, "order", body); st != http.StatusOK {
			t.Fatalf("post order %d: %d", o, st)
		}
		time.Sleep(200 * time.Millisecond) // the arrival rate under test, not a wait for a result
	}
	t.Logf("posted %d events during the outage in %s", n, time.Since(down).Round(time.Millisecond))
	if d, _ := inbox.MessagePosts(); d != 0 {
		t.Fatalf("%d messages stored while the inbox was down", d)
	}
	waitUntil(t, 70*time.Second, "the end of the 60 s outage", func() bool { return time.Since(down) >= 60*time.Second })
	inbox.SetDown(false)
	up := time.Now()

	waitUntil(t, 90*time.Second, "every event delivered after the outage", func() bool {
		d, _ := inbox.MessagePosts()
		return d >= n
	}, func() string { d, total := inbox.MessagePosts(); return fmt.Sprintf("%d distinct, %d posts", d, total) })
	t.Logf("all %d delivered %s after the inbox came back", n, time.Since(up).Round(time.Millisecond))
	outs := events.WaitOutcomes(t, 30*time.Second, "a completed outcome for every event", func(o []pipeline.Outcome) bool {
		return completedAll(o, ids)
	})
	if dlq := readAll(t, cfg, schemas.TopicDLQ, 0, 10*time.Second); len(dlq) != 0 {
		t.Errorf("%d events dead-lettered by an outage", len(dlq))
	}
	if d := countOutcomes(outs, pipeline.StatusDead); d != 0 {
		t.Errorf("%d dead outcomes", d)
	}
	for o := 1; o <= n; o++ {
		if got := len(inbox.Messages(fmt.Sprintf("outage%d@example.com", o))); got != 1 {
			t.Errorf("order %d: %d messages, want 1", o, got)
		}
	}
	distinct, total := inbox.MessagePosts()
	t.Logf("%d retrying outcomes before the breaker held the rest; inbox: %d distinct, %d POSTs accepted, %d message requests in all",
		countOutcomes(outs, pipeline.StatusRetrying), distinct, total, inbox.Requests(inboxtest.PathMessages))
	noViolations(t, "inbox", inbox.Violations())
}

// TestIntegrationSupersededStatus: a stale status update that arrives after
// a newer one was sent is recorded as superseded and not sent.
func TestIntegrationSupersededStatus(t *testing.T) {
	inbox := inboxtest.Start(t, inboxToken)
	cfg := testConfig(t, append(inboxEnv(inbox), "WEBHOOK_AUTO_SYNC_PRODUCTS=false")...)
	resetKafka(t, cfg)
	events := tailTopic(t, cfg, schemas.TopicEvents)
	startServe(t, cfg)
	startProcess(t, cfg, nil)

	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	const email = "late@example.com"
	newer := orderBody(pipeline.OrderUpdated, 501, email, "completed", "processing", base.Add(2*time.Second))
	stale := orderBody(pipeline.OrderUpdated, 501, email, "processing", "new", base.Add(1*time.Second))
	for _, b := range [][]byte{newer, stale} {
		if st := postWebhook(t, cfg, "order", b); st != http.StatusOK {
			t.Fatalf("post: %d", st)
		}
	}
	newerID, staleID := pipeline.BodyEventID(newer), pipeline.BodyEventID(stale)
	outs := events.WaitOutcomes(t, 30*time.Second, "both outcomes", func(o []pipeline.Outcome) bool {
		return countOutcomes(o, pipeline.StatusCompleted, newerID) == 1 && countOutcomes(o, pipeline.StatusSuperseded, staleID) == 1
	})
	if got := outcomesOf(outs, staleID); len(got) != 1 {
		t.Errorf("stale event outcomes %+v, want only superseded", got)
	}
	msgs := inbox.Messages(email)
	if len(msgs) != 1 || msgs[0].IdempotencyKey != newerID {
		t.Fatalf("customer got %d messages %+v, want only the completed one", len(msgs), msgs)
	}
	noViolations(t, "inbox", inbox.Violations())
}

// TestIntegrationRetryTierDoesNotStall: while a record waits in a 2 s retry
// tier, other orders' events keep being delivered promptly: the tier's
// partition is paused, the poll loop never sleeps.
func TestIntegrationRetryTierDoesNotStall(t *testing.T) {
	inbox := inboxtest.Start(t, inboxToken)
	cfg := testConfig(t, append(inboxEnv(inbox), "WEBHOOK_AUTO_SYNC_PRODUCTS=false", "SHOPSTREAM_RETRY_TIERS=2s,4s,8s")...)
	resetKafka(t, cfg)
	events := tailTopic(t, cfg, schemas.TopicEvents)
	startServe(t, cfg)
	startProcess(t, cfg, nil)
	at := time.Now().Add(-time.Hour)

	inbox.FailPathNext(inboxtest.PathMessages, 1, http.StatusServiceUnavailable)
	slow := orderBody(pipeline.OrderUpdated, 1, "slow@example.com", "shipped", "processing", at)
	if st := postWebhook(t, cfg, "order", slow); st != http.StatusOK {
		t.Fatalf("post: %d", st)
	}
	slowID := pipeline.BodyEventID(slow)
	outs := events.WaitOutcomes(t, 30*time.Second, "the first attempt sent to the 2 s tier", func(o []pipeline.Outcome) bool {
		return countOutcomes(o, pipeline.StatusRetrying, slowID) == 1
	})
	var parked time.Time
	for _, o := range outcomesOf(outs, slowID) {
		parked = o.ProcessedAt
	}

	// Other orders, posted while the tier record waits.
	var ids []string
	for o := 2; o <= 9; o++ {
		body := orderBody(pipeline.OrderUpdated, o, fmt.Sprintf("prompt%d@example.com", o), "shipped", "processing", at)
		if st := postWebhook(t, cfg, "order", body); st != http.StatusOK {
			t.Fatalf("post: %d", st)
		}
		id := pipeline.BodyEventID(body)
		ids = append(ids, id)
		events.WaitOutcomes(t, 5*time.Second, "order "+strconv.Itoa(o)+" completed", func(o []pipeline.Outcome) bool {
			return countOutcomes(o, pipeline.StatusCompleted, id) == 1
		})
		if time.Since(parked) > 1500*time.Millisecond {
			break // keep every check inside the tier's 2 s wait
		}
	}
	outs = events.WaitOutcomes(t, 30*time.Second, "the tier record delivered", func(o []pipeline.Outcome) bool {
		return countOutcomes(o, pipeline.StatusCompleted, slowID) == 1
	})
	var slowDone time.Time
	for _, o := range outcomesOf(outs, slowID) {
		if o.Status == pipeline.StatusCompleted {
			slowDone = o.ProcessedAt
			if o.Attempt != 2 || o.Topic != schemas.RetryTopic(2*time.Second) {
				t.Errorf("slow event completed at attempt %d from %s, want attempt 2 from the 2 s tier", o.Attempt, o.Topic)
			}
		}
	}
	// Due time and handling measured on one clock: the tier record's
	// shopstream-due-at was set by the processor's clock when it parked the
	// record, and the completion's start (its end minus its processing time)
	// comes from the same process's clock.
	tier := readAll(t, cfg, schemas.RetryTopic(2*time.Second), 1, 30*time.Second)
	due := kafka.DueAt(tier[0])
	if due.IsZero() {
		t.Fatalf("tier record has no %s header", schemas.HeaderDueAt)
	}
	for _, o := range outcomesOf(outs, slowID) {
		if o.Status != pipeline.StatusCompleted {
			continue
		}
		started := o.ProcessedAt.Add(-time.Duration(o.ProcessingMs * float64(time.Millisecond)))
		if started.Before(due) {
			t.Errorf("tier record handled from %s, before it was due at %s", started.Format(time.RFC3339Nano), due.Format(time.RFC3339Nano))
		}
	}
	// Not stalled: every other order was delivered before the tier record,
	// which waited its delay with its partition paused.
	for _, o := range outs {
		if o.Status != pipeline.StatusCompleted || !slices.Contains(ids, o.EventID) {
			continue
		}
		if !o.ProcessedAt.Before(slowDone) {
			t.Errorf("order %s was delivered only after the tier record (%s >= %s)", o.EntityID, o.ProcessedAt, slowDone)
		}
	}
	t.Logf("%d other orders delivered while the tier record waited %s", len(ids), slowDone.Sub(parked).Round(time.Millisecond))
	noViolations(t, "inbox", inbox.Violations())
}
