package ingress_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/ingress"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/kafkatest"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

const (
	itSecret     = "it-webhook-secret"
	fixturesDir  = "../../testdata/webhooks"
	endpointBase = "/api/webhooks/evershop/"
)

// rig is the real ingress (chi routes, signature check, envelope parsing)
// over a real kafka.Producer, writing to this test's own topics.
type rig struct {
	base   string
	topics map[pipeline.Kind]string
	secret pipeline.Secret
	http   *http.Client
}

func startIngress(t *testing.T, publishTimeout time.Duration) *rig {
	t.Helper()
	brokers := kafkatest.Brokers(t)
	names := kafkatest.CreateTopics(t, 3, schemas.TopicProduct, schemas.TopicOrder, schemas.TopicCustomer)
	topics := map[pipeline.Kind]string{
		pipeline.KindProduct: names[0], pipeline.KindOrder: names[1], pipeline.KindCustomer: names[2],
	}
	// Errors only (a failed publish, the client's connection errors while
	// the broker is down): enough to explain a failure without flooding -v.
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))

	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = brokers
	kcfg.ClientIDPrefix = "shopstream-it"
	if publishTimeout > 0 {
		kcfg.PublishTimeout = publishTimeout
	}
	reg := prometheus.NewRegistry()
	prod, err := kafka.NewProducer(kcfg, "ingress", log, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = prod.Close(ctx)
	})

	secrets, err := pipeline.ParseSecrets(itSecret)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ingress.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	srv, err := ingress.New(cfg, ingress.Deps{
		Verifier:  pipeline.NewVerifier(secrets, 0),
		Publisher: prod,
		Logger:    log,
		Registry:  reg,
		Topic:     func(k pipeline.Kind) string { return topics[k] },
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("ingress did not stop within 20 s")
		}
	})
	// A few seconds past the publish timeout: an ingress that has not
	// answered by then has broken its contract, and the test should say so
	// without waiting for much longer.
	client := &http.Client{Timeout: kcfg.PublishTimeout + 5*time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	t.Cleanup(client.CloseIdleConnections)
	return &rig{base: "http://" + ln.Addr().String(), topics: topics, secret: secrets[0], http: client}
}

type response struct {
	status  int
	header  http.Header
	code    int
	msg     string
	elapsed time.Duration
}

// post sends body to the kind's endpoint with the given headers; sign adds
// x-evershop-signature. It fails the test on a transport error or a reply
// that breaks the {code,msg} contract.
func (r *rig) post(t *testing.T, kind pipeline.Kind, body []byte, sign bool, header map[string]string) response {
	t.Helper()
	resp, err := r.do(kind, body, sign, header)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// do is post for goroutines other than the test's: it returns the error.
func (r *rig) do(kind pipeline.Kind, body []byte, sign bool, header map[string]string) (response, error) {
	req, err := http.NewRequest(http.MethodPost, r.base+endpointBase+string(kind), bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if sign {
		req.Header.Set(pipeline.HeaderEverShopSignature, pipeline.SignEverShop(r.secret, body))
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := r.http.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("POST %s: %w", req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, elapsed: time.Since(start)}
	var parsed struct {
		Code *int   `json:"code"`
		Msg  string `json:"msg"`
	}
	if err != nil || json.Unmarshal(raw, &parsed) != nil || parsed.Code == nil || parsed.Msg == "" {
		return out, fmt.Errorf("POST %s: %d with a body that is not {code,msg}: %q (%v)", req.URL.Path, resp.StatusCode, raw, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return out, fmt.Errorf("POST %s: Content-Type %q, want application/json", req.URL.Path, ct)
	}
	if (resp.StatusCode == http.StatusOK) != (*parsed.Code == 0) {
		return out, fmt.Errorf("POST %s: code %d with status %d", req.URL.Path, *parsed.Code, resp.StatusCode)
	}
	out.code, out.msg = *parsed.Code, parsed.Msg
	return out, nil
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixturesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bodyID(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func headers(r *kgo.Record) map[string]string {
	m := map[string]string{}
	for _, h := range r.Headers {
		m[h.Key] = string(h.Value)
	}
	return m
}

// sent is one accepted request and what its record must look like.
type sent struct {
	name    string
	kind    pipeline.Kind
	body    []byte
	key     string
	eventID string
	event   string
	scheme  string
	before  time.Time // received-at lies between these
	after   time.Time
}

func TestIngressWritesSignedFixtures(t *testing.T) {
	r := startIngress(t, 0)
	// Every fixture, with the key docs/contract.md's rule gives it: id, else
	// <kind>_id, else uuid.
	expect := map[string]struct {
		kind pipeline.Kind
		key  string
	}{
		"customer.created.evershop-row.json": {pipeline.KindCustomer, "7"},
		"customer.created.seed.json":         {pipeline.KindCustomer, "789"},
		"order.created.evershop-row.json":    {pipeline.KindOrder, "1001"},
		"order.updated.evershop-row.json":    {pipeline.KindOrder, "1001"},
		"order.updated.seed.json":            {pipeline.KindOrder, "456"},
		"product.created.seed.json":          {pipeline.KindProduct, "123"},
		"product.deleted.seed.json":          {pipeline.KindProduct, "123"},
		"product.updated.evershop-row.json":  {pipeline.KindProduct, "42"},
	}
	files, err := filepath.Glob(filepath.Join(fixturesDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixturesDir, err)
	}
	var all []sent
	accept := func(s sent, header map[string]string, sign bool) {
		t.Helper()
		s.before = time.Now()
		resp := r.post(t, s.kind, s.body, sign, header)
		s.after = time.Now()
		if resp.status != http.StatusOK || resp.msg != "Webhook received" {
			t.Fatalf("%s: %d %q, want 200 Webhook received", s.name, resp.status, resp.msg)
		}
		all = append(all, s)
	}
	for _, f := range files {
		name := filepath.Base(f)
		e, ok := expect[name]
		if !ok {
			t.Errorf("fixture %s has no expectation in this test: add it", name)
			continue
		}
		body := readFixture(t, name)
		var env struct{ Event string }
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		accept(sent{name: name, kind: e.kind, body: body, key: e.key, eventID: bodyID(body), event: env.Event,
			scheme: pipeline.SchemeEverShop}, nil, true)
	}
	// The two ways a sender names its event, both inside signed bytes: a
	// "webhook_id" in the x-evershop-signature body (the unsigned
	// x-evershop-webhook-id header is ignored), and a Standard Webhooks
	// request (webhook-id is signed).
	order := []byte(`{"event":"order.updated","timestamp":"2026-11-21T15:02:11Z","webhook_id":"evt-it-1","data":{"order_id":456,"status":"shipped"}}`)
	accept(sent{name: "webhook_id in the body", kind: pipeline.KindOrder, body: order, key: "456", eventID: "evt-it-1",
		event: pipeline.OrderUpdated, scheme: pipeline.SchemeEverShop},
		map[string]string{pipeline.HeaderEverShopWebhookID: "not-the-id"}, true)
	product := readFixture(t, "product.updated.evershop-row.json")
	now := time.Now()
	accept(sent{name: "standard webhooks", kind: pipeline.KindProduct, body: product, key: "42", eventID: "msg_it_2",
		event: pipeline.ProductUpdated, scheme: pipeline.SchemeStandardWebhooks},
		map[string]string{
			pipeline.HeaderWebhookID:        "msg_it_2",
			pipeline.HeaderWebhookTimestamp: strconv.FormatInt(now.Unix(), 10),
			pipeline.HeaderWebhookSignature: pipeline.SignStandard(r.secret, "msg_it_2", now, product),
		}, false)

	byTopic := map[string][]sent{}
	for _, s := range all {
		byTopic[r.topics[s.kind]] = append(byTopic[r.topics[s.kind]], s)
	}
	for topic, want := range byTopic {
		// Exactly these records, nothing more.
		if n := kafkatest.Total(kafkatest.EndOffsets(t, topic)); n != int64(len(want)) {
			t.Errorf("%s holds %d records, want %d", topic, n, len(want))
		}
		byID := map[string]sent{}
		for _, s := range want {
			byID[s.eventID] = s
		}
		partitionOf := map[string]int32{}
		for _, rec := range kafkatest.ReadN(t, len(want), topic) {
			h := headers(rec)
			s, ok := byID[h[schemas.HeaderEventID]]
			if !ok {
				t.Errorf("%s: record with unexpected event id %q", topic, h[schemas.HeaderEventID])
				continue
			}
			delete(byID, s.eventID)
			if !bytes.Equal(rec.Value, s.body) {
				t.Errorf("%s: value is not the request body byte for byte", s.name)
			}
			if string(rec.Key) != s.key {
				t.Errorf("%s: key %q, want %q", s.name, rec.Key, s.key)
			}
			if h[schemas.HeaderEventType] != s.event || h[schemas.HeaderSignatureScheme] != s.scheme {
				t.Errorf("%s: headers %v, want type %s and scheme %s", s.name, h, s.event, s.scheme)
			}
			at, err := time.Parse(time.RFC3339Nano, h[schemas.HeaderReceivedAt])
			if err != nil || at.Before(s.before) || at.After(s.after) {
				t.Errorf("%s: received-at %q not within the request (%s .. %s): %v", s.name, h[schemas.HeaderReceivedAt], s.before, s.after, err)
			}
			if len(h) != 4 {
				t.Errorf("%s: headers %v, want exactly event id, type, received-at and scheme", s.name, h)
			}
			if p, seen := partitionOf[s.key]; seen && p != rec.Partition {
				t.Errorf("%s: key %s in partitions %d and %d; one key must stay in one partition", topic, s.key, p, rec.Partition)
			}
			partitionOf[s.key] = rec.Partition
		}
		for id, s := range byID {
			t.Errorf("%s: record of %s (event id %s) not found", topic, s.name, id)
		}
	}
}

// TestIngressReplayKeepsEventID re-posts a captured x-evershop-signature
// request with a fresh x-evershop-webhook-id and then with an added
// webhook-id. Each replay is answered 200 and may be written again, but
// every record carries the event id of the signed bytes, so the processor's
// dedupe by event id drops the copies.
func TestIngressReplayKeepsEventID(t *testing.T) {
	r := startIngress(t, 0)
	body := readFixture(t, "order.created.evershop-row.json")
	sig := pipeline.SignEverShop(r.secret, body) // captured once
	replays := []map[string]string{
		{pipeline.HeaderEverShopSignature: sig},
		{pipeline.HeaderEverShopSignature: sig, pipeline.HeaderEverShopWebhookID: "fresh-" + strconv.FormatInt(time.Now().UnixNano(), 36)},
		{pipeline.HeaderEverShopSignature: sig, pipeline.HeaderEverShopWebhookID: "fresh-2", pipeline.HeaderWebhookID: "msg_added"},
	}
	for i, h := range replays {
		if resp := r.post(t, pipeline.KindOrder, body, false, h); resp.status != http.StatusOK {
			t.Fatalf("replay %d: %d %s, want 200", i, resp.status, resp.msg)
		}
	}
	recs := kafkatest.ReadN(t, len(replays), r.topics[pipeline.KindOrder])
	for i, rec := range recs {
		if got := headers(rec)[schemas.HeaderEventID]; got != bodyID(body) {
			t.Errorf("record %d: event id %q, want the body's sha256 %s", i, got, bodyID(body))
		}
	}
}

// orderUpdate is an order.updated body whose seq and status tell the
// updates apart and give their order.
func orderUpdate(orderID string, seq int) []byte {
	statuses := []string{"pending", "processing", "shipped", "delivered"}
	return fmt.Appendf(nil, `{"event":"order.updated","timestamp":"%s","data":{"order_id":%q,"order_number":"IT-%s","status":%q,"previous_status":%q,"seq":%d}}`,
		time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC).Add(time.Duration(seq)*time.Second).Format(time.RFC3339),
		orderID, orderID, statuses[seq%4], statuses[(seq+3)%4], seq)
}

func TestIngressOrderBurstStaysInOrder(t *testing.T) {
	r := startIngress(t, 0)
	const n = 200
	orderID := "it-order-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	bodies := make([][]byte, n)
	for i := range n {
		bodies[i] = orderUpdate(orderID, i)
		if resp := r.post(t, pipeline.KindOrder, bodies[i], true, nil); resp.status != http.StatusOK {
			t.Fatalf("update %d: %d %s", i, resp.status, resp.msg)
		}
	}
	recs := kafkatest.ReadN(t, n, r.topics[pipeline.KindOrder])
	for i, rec := range recs {
		if rec.Partition != recs[0].Partition {
			t.Fatalf("update %d in partition %d, update 0 in %d: one order must use one partition", i, rec.Partition, recs[0].Partition)
		}
		if i > 0 && rec.Offset != recs[i-1].Offset+1 {
			t.Errorf("update %d at offset %d after %d: gap or reorder", i, rec.Offset, recs[i-1].Offset)
		}
		if !bytes.Equal(rec.Value, bodies[i]) {
			t.Fatalf("record %d is not update %d (sent order broken):\n got %s\nwant %s", i, i, rec.Value, bodies[i])
		}
		if string(rec.Key) != orderID {
			t.Errorf("record %d key %q, want %q", i, rec.Key, orderID)
		}
	}
}

func TestIngressRefusesUnsignedAndWritesNothing(t *testing.T) {
	r := startIngress(t, 0)
	before := map[pipeline.Kind]map[int32]int64{}
	for k, topic := range r.topics {
		before[k] = kafkatest.EndOffsets(t, topic)
	}
	other, _ := pipeline.ParseSecrets("not-the-secret")
	cases := []struct {
		name    string
		kind    pipeline.Kind
		fixture string
		header  func(body []byte) map[string]string
		tamper  bool
	}{
		{"unsigned order", pipeline.KindOrder, "order.updated.seed.json", nil, false},
		{"unsigned product", pipeline.KindProduct, "product.created.seed.json", nil, false},
		{"unsigned customer", pipeline.KindCustomer, "customer.created.seed.json", nil, false},
		{"other secret", pipeline.KindOrder, "order.created.evershop-row.json", func(b []byte) map[string]string {
			return map[string]string{pipeline.HeaderEverShopSignature: pipeline.SignEverShop(other[0], b)}
		}, false},
		{"body changed after signing", pipeline.KindProduct, "product.updated.evershop-row.json", func(b []byte) map[string]string {
			return map[string]string{pipeline.HeaderEverShopSignature: pipeline.SignEverShop(r.secret, b)}
		}, true},
		{"standard webhooks, stale timestamp", pipeline.KindCustomer, "customer.created.evershop-row.json", func(b []byte) map[string]string {
			old := time.Now().Add(-10 * time.Minute)
			return map[string]string{
				pipeline.HeaderWebhookID:        "msg_stale",
				pipeline.HeaderWebhookTimestamp: strconv.FormatInt(old.Unix(), 10),
				pipeline.HeaderWebhookSignature: pipeline.SignStandard(r.secret, "msg_stale", old, b),
			}
		}, false},
	}
	for _, c := range cases {
		body := readFixture(t, c.fixture)
		var h map[string]string
		if c.header != nil {
			h = c.header(body)
		}
		if c.tamper {
			body = bytes.Replace(body, []byte(`"price":"24.9000"`), []byte(`"price":"0.0100"`), 1)
		}
		if resp := r.post(t, c.kind, body, false, h); resp.status != http.StatusUnauthorized || resp.code != 1 {
			t.Errorf("%s: %d code %d %q, want 401 code 1", c.name, resp.status, resp.code, resp.msg)
		}
	}
	// A signed request through the same producer afterwards: once it is
	// readable, anything the refused requests had written would be too.
	sentinel := orderUpdate("it-sentinel", 0)
	if resp := r.post(t, pipeline.KindOrder, sentinel, true, nil); resp.status != http.StatusOK {
		t.Fatalf("sentinel: %d %s", resp.status, resp.msg)
	}
	for k, topic := range r.topics {
		after := kafkatest.EndOffsets(t, topic)
		grew := kafkatest.Total(after) - kafkatest.Total(before[k])
		want := int64(0)
		if k == pipeline.KindOrder {
			want = 1
		}
		if grew != want {
			t.Errorf("%s grew by %d records, want %d (only the signed sentinel)", topic, grew, want)
		}
	}
	if rec := kafkatest.ReadN(t, 1, r.topics[pipeline.KindOrder])[0]; !bytes.Equal(rec.Value, sentinel) {
		t.Errorf("the order topic's only record is %s, want the sentinel", rec.Value)
	}
}

// TestIngressBrokerOutage stops the real broker under a running ingress:
// every request gets 503 with Retry-After within the publish timeout (plus
// a second) and none gets 200; once the broker is back, the same ingress
// and producer answer 200 again, and every 200 is a readable record.
func TestIngressBrokerOutage(t *testing.T) {
	const publishTimeout = 2 * time.Second
	r := startIngress(t, publishTimeout)
	topic := r.topics[pipeline.KindOrder]
	orderID := "it-outage-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var (
		mu       sync.Mutex
		seq      int
		accepted [][]byte
		refused  [][]byte
	)
	send := func() response {
		mu.Lock()
		body := orderUpdate(orderID, seq)
		seq++
		mu.Unlock()
		resp, err := r.do(pipeline.KindOrder, body, true, nil) // also from goroutines: no Fatal
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			t.Error(err)
			return resp
		}
		switch resp.status {
		case http.StatusOK:
			accepted = append(accepted, body)
		case http.StatusServiceUnavailable:
			refused = append(refused, body)
		default:
			t.Errorf("status %d %q, want 200 or 503", resp.status, resp.msg)
		}
		return resp
	}
	if resp := send(); resp.status != http.StatusOK {
		t.Fatalf("before the outage: %d %s", resp.status, resp.msg)
	}

	kafkatest.StopBroker(t)   // restarted at cleanup whatever happens
	var slowest time.Duration // of the 503s while down
	down := func(resp response, what string) {
		t.Helper()
		if kafkatest.BrokerUp(t) {
			t.Fatalf("%s: the broker is up again although this test stopped it: another process ran deploy/local/kafka.sh start "+
				"(make infra-up, deploy/e2e/run.sh) during the outage, so this run says nothing about the ingress", what)
		}
		if resp.status == http.StatusOK {
			t.Errorf("%s: 200 while the broker is down: a write that cannot be durable", what)
			return
		}
		if resp.status != http.StatusServiceUnavailable {
			return // already reported by send
		}
		if ra, err := strconv.Atoi(resp.header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("%s: 503 with Retry-After %q, want whole seconds", what, resp.header.Get("Retry-After"))
		}
		slowest = max(slowest, resp.elapsed)
		if resp.elapsed > publishTimeout+time.Second {
			t.Errorf("%s: 503 after %s, want within %s", what, resp.elapsed.Round(time.Millisecond), publishTimeout+time.Second)
		}
	}
	for i := range 3 {
		down(send(), fmt.Sprintf("request %d while down", i+1))
	}
	// Concurrent requests share batches; each must still be answered in time.
	var wg sync.WaitGroup
	resps := make([]response, 4)
	for i := range resps {
		wg.Go(func() { resps[i] = send() })
	}
	wg.Wait()
	for i, resp := range resps {
		down(resp, fmt.Sprintf("concurrent request %d while down", i+1))
	}

	t.Logf("while down: 7 requests, slowest 503 after %s (publish timeout %s)", slowest.Round(time.Millisecond), publishTimeout)

	kafkatest.StartBroker(t)
	restarted := time.Now()
	deadline := restarted.Add(60 * time.Second)
	for {
		resp := send()
		if resp.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d %q 60 s after the broker came back; the producer did not recover", resp.status, resp.msg)
		}
		time.Sleep(100 * time.Millisecond) // between polls; each request is itself bounded
	}
	t.Logf("first 200 %s after the broker was ready", time.Since(restarted).Round(time.Millisecond))
	for i := range 20 {
		if resp := send(); resp.status != http.StatusOK {
			t.Errorf("request %d after recovery: %d %s", i+1, resp.status, resp.msg)
		}
	}

	// Every 200 is durable. (A 503'd request may or may not have been
	// written: 503 means "retry", and the event id dedupes the retry.)
	total := kafkatest.Total(kafkatest.EndOffsets(t, topic))
	stored := map[string]int{}
	var partition int32 = -1
	for _, rec := range kafkatest.ReadN(t, int(total), topic) {
		stored[string(rec.Value)]++
		if partition >= 0 && rec.Partition != partition {
			t.Errorf("order %s spread over partitions %d and %d", orderID, partition, rec.Partition)
		}
		partition = rec.Partition
	}
	for _, b := range accepted {
		if stored[string(b)] != 1 {
			t.Errorf("a 200'd update is stored %d times: %s", stored[string(b)], b)
		}
	}
	var late int
	for _, b := range refused {
		late += stored[string(b)]
	}
	t.Logf("%d accepted, all stored once; %d refused with 503, %d of them written anyway", len(accepted), len(refused), late)
}
