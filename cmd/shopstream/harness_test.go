package main

// The integration harness: what every TestIntegration* of this package uses
// to run shopstream's roles against the real Kafka broker
// (SHOPSTREAM_TEST_KAFKA, started by deploy/local/kafka.sh). Tests skip when
// the variable is empty and fail when it is set but the broker does not
// answer.
//
// Topic and group names are fixed (schemas), so tests cannot be isolated by
// name: each one starts with resetKafka, which deletes every evershop.* and
// shopstream.* topic and every shopstream-* group and creates topicPlan(cfg)
// again. Tests therefore run one at a time (no t.Parallel), and every test
// run that shares the broker must hold /tmp/shopstream-it.lock:
//
//	flock /tmp/shopstream-it.lock go test -count=1 -run Integration -v ./cmd/shopstream/
//
// The API, by what a test does:
//
//	configure   testConfig(t, "KEY=value"...) Config   testEnv(t, ...) []string   configFromEnv(t, env)
//	            inboxEnv(inboxFake), cozeEnv(cozeFake)  (add to the overrides)
//	isolate     resetKafka(t, cfg)
//	run roles   startServe(t, cfg) *role   startProcess(t, cfg, reg) *role   role.Stop()
//	            waitGroupMembers(t, cfg, group, n, timeout)
//	            buildShopstream(t) → startSubprocess(t, bin, env, "process") → waitReady(t, adminAddr)
//	send        postWebhook(t, cfg, kind, body) int   postWebhookHeaders(...) (int, []byte)
//	            postLanes(t, cfg, [][]webhook)   produceRecords(t, cfg, recs...)
//	            productBody, orderBody, customerBody (the exact bytes that are signed and posted)
//	observe     readAll(t, cfg, topic, want, timeout) []*kgo.Record   (want <= 0: up to the current end)
//	            tailTopic(t, cfg, topic) → WaitFor / WaitOutcomes / Records / Outcomes
//	            countOutcomes, completedAll, outcomesOf, endOffsets, groupLag(t, cfg, group, topics...)
//	            metricSum(t, registry, name, labels), kafkaAdmin(t, cfg)
//	wait        waitUntil(t, timeout, what, cond, detail...)   (polls every 25 ms; no bare sleeps)
//
// Everything a test starts is stopped by t.Cleanup. Roles log through
// testLogger at warn level; SHOPSTREAM_TEST_LOG=info (or debug) shows more.
// With several processors in one test, give each its own registry
// (newRegistry()): their metrics would collide in one.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/coze/cozetest"
	"github.com/shopstream/shopstream/connectors/inbox/inboxtest"
	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/internal/clock"
	"github.com/shopstream/shopstream/internal/lifecycle"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// testSecret is the webhook secret of every testConfig.
const testSecret = "test-secret"

// requireKafka returns the brokers of SHOPSTREAM_TEST_KAFKA. It skips the
// test when the variable is empty and fails it when the broker does not
// answer within 10 s.
func requireKafka(t *testing.T) string {
	t.Helper()
	brokers := strings.TrimSpace(os.Getenv("SHOPSTREAM_TEST_KAFKA"))
	if brokers == "" {
		t.Skip("SHOPSTREAM_TEST_KAFKA is not set; start the local broker (deploy/local/kafka.sh start) and set SHOPSTREAM_TEST_KAFKA=127.0.0.1:9092 to run this test")
	}
	kcfg := kafka.DefaultConfig()
	kcfg.Brokers = strings.Split(brokers, ",")
	cl, err := kafka.NewClient(kcfg, "test-ping", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatalf("SHOPSTREAM_TEST_KAFKA=%s: %v", brokers, err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("SHOPSTREAM_TEST_KAFKA=%s does not answer (deploy/local/kafka.sh status): %v", brokers, err)
	}
	return brokers
}

// testEnv returns the environment of a test configuration, as "KEY=value"
// lines: the webhook secret, the brokers, free loopback ports for the
// webhook and admin listeners, short debounce and retry timings, a fresh
// data dir, then overrides (later lines win). It is what testConfig parses,
// and what a `shopstream` subprocess gets as its environment.
func testEnv(t *testing.T, overrides ...string) []string {
	t.Helper()
	brokers := requireKafka(t)
	env := []string{
		"EVERSHOP_WEBHOOK_SECRET=" + testSecret,
		"SHOPSTREAM_KAFKA_BROKERS=" + brokers,
		"SHOPSTREAM_HTTP_ADDR=" + freeAddr(t),
		"SHOPSTREAM_ADMIN_ADDR=" + freeAddr(t),
		"SHOPSTREAM_CATALOG_QUIET=300ms",
		"SHOPSTREAM_CATALOG_MAX_WAIT=3s",
		"SHOPSTREAM_RETRY_TIERS=200ms,400ms,800ms",
		"SHOPSTREAM_DATA_DIR=" + t.TempDir(),
		"SHOPSTREAM_LOG_LEVEL=" + testLogLevel().String(),
	}
	return append(env, overrides...)
}

// testConfig is loadConfig + parseConfig (no role checks) over testEnv(t,
// overrides...). It fails the test on a configuration error.
func testConfig(t *testing.T, env ...string) Config {
	t.Helper()
	return configFromEnv(t, testEnv(t, env...))
}

// configFromEnv parses a full environment list (see testEnv).
func configFromEnv(t *testing.T, env []string) Config {
	t.Helper()
	k, err := loadConfig("", env)
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	cfg, err := parseConfig(k)
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// testLogLevel is SHOPSTREAM_TEST_LOG (debug, info, warn, error), warn by
// default.
func testLogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("SHOPSTREAM_TEST_LOG"))); err != nil {
		return slog.LevelWarn
	}
	return l
}

// testLogger logs to the test's output at testLogLevel. Lines written after
// the test finished (a straggling client goroutine) are dropped instead of
// panicking.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{w: t.Output()}
	t.Cleanup(w.close) // registered first, so it runs after every other cleanup
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: testLogLevel()}))
}

type testWriter struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	return w.w.Write(p)
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// kafkaAdmin returns an admin client on the test's broker, closed at cleanup.
func kafkaAdmin(t *testing.T, cfg Config) *kadm.Client {
	t.Helper()
	// Admin metadata requests are answered from a cache up to the min age
	// old (5 s by default): too stale to watch topics come and go.
	cl, err := kafka.NewClient(kafkaConfig(cfg), "test-admin", slog.New(slog.DiscardHandler), nil,
		kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// isTestTopic says whether resetKafka owns a topic: shopstream's fixed
// names, not other suites' uniquely named ones (shopstream-test.*).
func isTestTopic(name string) bool {
	return strings.HasPrefix(name, "evershop.") || strings.HasPrefix(name, "shopstream.")
}

// resetKafka gives the test a broker with shopstream's topics empty and no
// shopstream consumer group: it deletes every evershop.* and shopstream.*
// topic and every shopstream-* group, waits until they are gone, and creates
// topicPlan(cfg). A group that still has members (a process killed with -9
// keeps its membership until the session times out) is retried for up to a
// minute.
func resetKafka(t *testing.T, cfg Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	adm := kafkaAdmin(t, cfg)
	start := time.Now()
	defer func() { t.Logf("kafka reset in %s", time.Since(start).Round(time.Millisecond)) }()

	// Groups first, so no committed offset of a deleted topic survives.
	for {
		listed, err := adm.ListGroups(ctx)
		if err != nil {
			t.Fatalf("reset: list groups: %v", err)
		}
		var groups []string
		for _, g := range listed.Groups() {
			if strings.HasPrefix(g, "shopstream-") {
				groups = append(groups, g)
			}
		}
		if len(groups) == 0 {
			break
		}
		resps, err := adm.DeleteGroups(ctx, groups...)
		if err != nil {
			t.Fatalf("reset: delete groups: %v", err)
		}
		busy := false
		for _, r := range resps.Sorted() {
			switch {
			case r.Err == nil, errors.Is(r.Err, kerr.GroupIDNotFound):
			case errors.Is(r.Err, kerr.NonEmptyGroup), errors.Is(r.Err, kerr.CoordinatorLoadInProgress),
				errors.Is(r.Err, kerr.NotCoordinator), errors.Is(r.Err, kerr.CoordinatorNotAvailable):
				busy = true
			default:
				t.Fatalf("reset: delete group %s: %v", r.Group, r.Err)
			}
		}
		if !busy {
			continue // list again: confirm they are gone
		}
		if clock.Sleep(ctx, 500*time.Millisecond) != nil {
			t.Fatalf("reset: groups still have members after 2 minutes: %v", groups)
		}
	}

	for {
		topics, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatalf("reset: list topics: %v", err)
		}
		var names []string
		for _, n := range topics.Names() {
			if isTestTopic(n) {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			break
		}
		resps, err := adm.DeleteTopics(ctx, names...)
		if err != nil {
			t.Fatalf("reset: delete topics: %v", err)
		}
		for _, r := range resps.Sorted() {
			if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
				t.Logf("reset: delete topic %s: %v (retrying)", r.Topic, r.Err)
			}
		}
		if clock.Sleep(ctx, 200*time.Millisecond) != nil {
			t.Fatalf("reset: topics not deleted after 2 minutes: %v", names)
		}
	}

	plan := topicPlan(cfg)
	for {
		_, err := kafka.EnsureTopics(ctx, adm, plan)
		if err == nil {
			break
		}
		// A topic deleted a moment ago can still be "marked for deletion".
		if clock.Sleep(ctx, 300*time.Millisecond) != nil {
			t.Fatalf("reset: create topics: %v", err)
		}
	}
	// Wait until every partition has a leader, so the first produce of the
	// test does not race the controller.
	names := make([]string, len(plan))
	for i, s := range plan {
		names[i] = s.Name
	}
	for {
		topics, err := adm.ListTopics(ctx, names...)
		if err == nil && allLed(topics, plan) {
			watchForeignMembers(t, adm)
			return
		}
		if clock.Sleep(ctx, 100*time.Millisecond) != nil {
			t.Fatalf("reset: topics have no leaders after 2 minutes (err %v)", err)
		}
	}
}

// harnessProcessors counts the processors this test runs (in-process roles
// and `shopstream process` subprocesses).
var harnessProcessors atomic.Int32

// watchForeignMembers logs, for the rest of the test, when the processor
// group has more members than the test started: another test run is using
// the broker without holding the lock, and its processors take this test's
// partitions (and deliver its events to their own fakes). A member killed
// with -9 also counts until its session times out.
func watchForeignMembers(t *testing.T, adm *kadm.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		reported := 0
		for clock.Sleep(ctx, 500*time.Millisecond) == nil {
			gs, err := adm.DescribeGroups(ctx, schemas.GroupProcessor)
			if err != nil {
				continue
			}
			members, ours := len(gs[schemas.GroupProcessor].Members), int(harnessProcessors.Load())
			if members > ours && members != reported {
				reported = members
				t.Logf("WARNING: group %s has %d members, this test runs %d processors: another test run uses the broker "+
					"without flock /tmp/shopstream-it.lock (or a killed member has not timed out yet)", schemas.GroupProcessor, members, ours)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func allLed(topics kadm.TopicDetails, plan []kafka.TopicSpec) bool {
	for _, s := range plan {
		d, ok := topics[s.Name]
		if !ok || d.Err != nil || int32(len(d.Partitions)) != s.Partitions {
			return false
		}
		for _, p := range d.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false
			}
		}
	}
	return true
}

// role is a running set of parts (one `shopstream serve` or `process` in
// this test process). Stop cancels it and waits until every part drained;
// it is registered on t.Cleanup and safe to call more than once.
type role struct {
	name string
	// HTTPURL is the webhook listener's base URL (serve only); AdminURL the
	// admin listener's (serve only: newProcessor has no admin part).
	HTTPURL, AdminURL string
	// Registry holds the role's metrics.
	Registry *prometheus.Registry

	cancel context.CancelFunc
	done   chan struct{}
	err    error
	once   sync.Once
}

// Stop cancels the role and waits (up to 45 s) for it to drain; it
// returns what lifecycle.Run returned.
func (r *role) Stop() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case <-r.done:
		case <-time.After(45 * time.Second):
			var buf bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
			r.err = fmt.Errorf("%s did not stop within 45 s; goroutines:\n%s", r.name, buf.String())
		}
	})
	return r.err
}

// Done is closed when the role returned (stopped or failed).
func (r *role) Done() <-chan struct{} { return r.done }

func runRole(t *testing.T, name string, log *slog.Logger, reg *prometheus.Registry, parts []lifecycle.Part) *role {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &role{name: name, Registry: reg, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = lifecycle.Run(ctx, log, parts...)
	}()
	t.Cleanup(func() {
		start := time.Now()
		if err := r.Stop(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		t.Logf("%s stopped in %s", name, time.Since(start).Round(time.Millisecond))
	})
	return r
}

// startServe runs newIngress (webhook listener, producer) and adminParts and waits
// until /readyz answers 200.
func startServe(t *testing.T, cfg Config) *role {
	t.Helper()
	log := testLogger(t).With("role", "serve")
	reg := newRegistry()
	parts, err := newIngress(t.Context(), cfg, log, reg)
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	admin, err := adminParts(cfg, RoleServe, log, reg)
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	parts = append(parts, admin...)
	r := runRole(t, "serve", log, reg, parts)
	r.HTTPURL, r.AdminURL = "http://"+cfg.HTTPAddr, "http://"+cfg.AdminAddr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(r.AdminURL + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
			err = fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		select {
		case <-r.done:
			t.Fatalf("serve stopped before it was ready: %v", r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 30 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startProcess runs newProcessor(ctx, cfg, log, reg, false): the processor group
// consumer and, with catalog sync on, the catalog trigger. reg nil means a
// fresh registry; two instances in one test need separate registries. It
// returns at once: a new group starts at the earliest offset, so nothing
// posted before the members joined is missed (use waitGroupMembers when a
// test needs a settled assignment).
func startProcess(t *testing.T, cfg Config, reg *prometheus.Registry) *role {
	t.Helper()
	if reg == nil {
		reg = newRegistry()
	}
	log := testLogger(t).With("role", "process")
	parts, err := newProcessor(t.Context(), cfg, log, reg, false)
	if err != nil {
		t.Fatalf("process: %v", err)
	}
	harnessProcessors.Add(1)
	r := runRole(t, "process", log, reg, parts)
	go func() {
		<-r.done
		harnessProcessors.Add(-1)
	}()
	return r
}

// waitGroupMembers waits until group is Stable with exactly n members.
func waitGroupMembers(t *testing.T, cfg Config, group string, n int, timeout time.Duration) {
	t.Helper()
	adm := kafkaAdmin(t, cfg)
	var last string
	waitUntil(t, timeout, fmt.Sprintf("group %s stable with %d members", group, n), func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		gs, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			last = err.Error()
			return false
		}
		g := gs[group]
		last = fmt.Sprintf("state %s, %d members", g.State, len(g.Members))
		return g.State == "Stable" && len(g.Members) == n
	}, func() string { return last })
}

// waitUntil polls cond every 25 ms until it holds, failing the test after
// timeout with what and, when given, the latest detail.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("timed out after %s waiting for %s", timeout, what)
			for _, d := range detail {
				msg += ": " + d()
			}
			t.Fatal(msg)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting for %s", what)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

var webhookClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// postWebhook posts body to /api/webhooks/evershop/{kind} of cfg's webhook
// listener, signed (x-evershop-signature) with cfg.Secrets[0], and returns
// the status code.
func postWebhook(t *testing.T, cfg Config, kind string, body []byte) int {
	t.Helper()
	status, _ := postWebhookHeaders(t, cfg, kind, body, nil)
	return status
}

// postWebhookHeaders is postWebhook with extra headers (for example
// the Standard Webhooks headers, whose signed webhook-id is the event id);
// it returns the status and
// the response body. Safe to call from several goroutines.
func postWebhookHeaders(t *testing.T, cfg Config, kind string, body []byte, hdr http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+cfg.HTTPAddr+"/api/webhooks/evershop/"+kind, bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-evershop-signature", pipeline.SignEverShop(cfg.Secrets[0], body))
	resp, err := webhookClient.Do(req)
	if err != nil {
		t.Errorf("post %s webhook: %v", kind, err)
		return 0, nil
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// readAll reads topic from its start with a direct (group-less) consumer
// until it has want records or timeout passed, and returns what it read
// (callers assert the count). want <= 0 reads up to the end offsets the
// topic had when the call began.
func readAll(t *testing.T, cfg Config, topic string, want int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cl, err := kafka.NewClient(kafkaConfig(cfg), "test-reader", slog.New(slog.DiscardHandler), nil,
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var ends map[int32]int64 // want <= 0: partition -> end offset still to reach
	if want <= 0 {
		listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			t.Fatalf("read %s: end offsets: %v", topic, err)
		}
		ends = map[int32]int64{}
		listed.Each(func(o kadm.ListedOffset) {
			if o.Offset > 0 {
				ends[o.Partition] = o.Offset
			}
		})
	}
	var out []*kgo.Record
	for (want > 0 && len(out) < want) || (want <= 0 && len(ends) > 0) {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if want <= 0 {
				end, ok := ends[r.Partition]
				if !ok || r.Offset >= end {
					return
				}
				if r.Offset >= end-1 {
					delete(ends, r.Partition)
				}
			}
			out = append(out, r)
		})
	}
	return out
}

// topicTail consumes a topic from its start in the background for the rest
// of the test, keeping every record; WaitFor polls what it has.
type topicTail struct {
	topic string
	mu    sync.Mutex
	recs  []*kgo.Record
}

// tailTopic starts a tail of topic (direct consumer, from the start).
func tailTopic(t *testing.T, cfg Config, topic string) *topicTail {
	t.Helper()
	cl, err := kafka.NewClient(kafkaConfig(cfg), "test-tail", slog.New(slog.DiscardHandler), nil,
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	tl := &topicTail{topic: topic}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			fetches := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			tl.mu.Lock()
			fetches.EachRecord(func(r *kgo.Record) { tl.recs = append(tl.recs, r) })
			tl.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cl.Close()
	})
	return tl
}

// Records returns a snapshot of what the tail read so far.
func (tl *topicTail) Records() []*kgo.Record {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return slices.Clone(tl.recs)
}

// WaitFor polls until cond holds over the records read so far and returns
// them; it fails the test after timeout.
func (tl *topicTail) WaitFor(t *testing.T, timeout time.Duration, what string, cond func([]*kgo.Record) bool) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	waitUntil(t, timeout, tl.topic+": "+what, func() bool {
		recs = tl.Records()
		return cond(recs)
	}, func() string { return fmt.Sprintf("%d records read", len(recs)) })
	return recs
}

// Outcomes decodes the tail's records as evershop.events outcomes.
func (tl *topicTail) Outcomes(t *testing.T) []pipeline.Outcome {
	t.Helper()
	return decodeOutcomes(t, tl.Records())
}

// WaitOutcomes is WaitFor over decoded outcomes (tail of evershop.events).
func (tl *topicTail) WaitOutcomes(t *testing.T, timeout time.Duration, what string, cond func([]pipeline.Outcome) bool) []pipeline.Outcome {
	t.Helper()
	var outs []pipeline.Outcome
	tl.WaitFor(t, timeout, what, func(rs []*kgo.Record) bool {
		outs = decodeOutcomes(t, rs)
		return cond(outs)
	})
	return outs
}

// decodeOutcomes decodes evershop.events records.
func decodeOutcomes(t *testing.T, recs []*kgo.Record) []pipeline.Outcome {
	t.Helper()
	out := make([]pipeline.Outcome, 0, len(recs))
	for _, r := range recs {
		var o pipeline.Outcome
		if err := json.Unmarshal(r.Value, &o); err != nil {
			t.Fatalf("evershop.events %d@%d: %v: %s", r.Partition, r.Offset, err, r.Value)
		}
		out = append(out, o)
	}
	return out
}

// countOutcomes counts outcomes with the given status (and, when eventIDs
// is not empty, one of those event ids).
func countOutcomes(outs []pipeline.Outcome, status pipeline.Status, eventIDs ...string) int {
	n := 0
	for _, o := range outs {
		if o.Status == status && (len(eventIDs) == 0 || slices.Contains(eventIDs, o.EventID)) {
			n++
		}
	}
	return n
}

// produceRecords writes records straight to Kafka (bypassing the ingress)
// with shopstream's producer settings and waits for the acknowledgements.
func produceRecords(t *testing.T, cfg Config, recs ...*kgo.Record) {
	t.Helper()
	prod, err := kafka.NewProducer(kafkaConfig(cfg), "test-producer", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = prod.Close(context.Background()) }() // test producer: flushed by the test already
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := prod.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// Webhook bodies. Each call renders exactly the bytes that are signed and
// posted, so tests can compare them with what lands in the DLQ.

// productBody is a product webhook in the spec's short form.
func productBody(event string, id int, name, price string, ts time.Time) []byte {
	return mustJSON(map[string]any{"event": event, "timestamp": ts.UTC().Format(time.RFC3339Nano),
		"data": map[string]any{"id": id, "sku": fmt.Sprintf("SKU-%d", id), "name": name, "price": price, "qty": 5}})
}

// orderBody is an order.updated (or order.created) webhook in EverShop's row
// form, with updated_at for superseding.
func orderBody(event string, orderID int, email, status, prev string, updatedAt time.Time) []byte {
	return mustJSON(map[string]any{"event": event, "timestamp": updatedAt.UTC().Format(time.RFC3339Nano),
		"data": map[string]any{"order_id": orderID, "order_number": fmt.Sprint(10000 + orderID),
			"customer_email": email, "status": status, "previous_status": prev,
			"updated_at": updatedAt.UTC().Format(time.RFC3339Nano)}})
}

// customerBody is a customer.created webhook in EverShop's row form.
func customerBody(customerID int, email, name string, ts time.Time) []byte {
	return mustJSON(map[string]any{"event": "customer.created", "timestamp": ts.UTC().Format(time.RFC3339Nano),
		"data": map[string]any{"customer_id": customerID, "email": email, "full_name": name}})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// webhook is one request of a postLanes burst.
type webhook struct {
	Kind string // product, order, customer
	Body []byte
}

// postLanes posts every lane's webhooks in order, all lanes at once, and
// returns how long the whole burst took. A lane keeps one entity's events
// in order (the ingress writes them in the order it acknowledges them);
// concurrency across lanes makes the burst fast. Any answer but 200 fails
// the test.
func postLanes(t *testing.T, cfg Config, lanes [][]webhook) time.Duration {
	t.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	for _, lane := range lanes {
		wg.Go(func() {
			for _, w := range lane {
				if status, body := postWebhookHeaders(t, cfg, w.Kind, w.Body, nil); status != http.StatusOK {
					t.Errorf("post %s webhook: %d %s", w.Kind, status, body)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return time.Since(start)
}

// metricSum adds up the samples of a counter or gauge family in reg whose
// labels include match (nil: every sample); histograms count observations.
func metricSum(t *testing.T, reg prometheus.Gatherer, name string, match map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range match {
				if labels[k] != v {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// Fakes of the outside systems, wired in through the environment.

// Credentials the harness's fakes accept.
const (
	inboxToken  = "inbox-token"
	cozeToken   = "coze-token"
	cozeDataset = "7300000000000000001"
)

// inboxEnv points the processor at an inbox fake.
func inboxEnv(s *inboxtest.Server) []string {
	return []string{"INBOX_API_URL=" + s.URL, "INBOX_API_TOKEN=" + inboxToken}
}

// cozeEnv points the catalog target at a Coze fake.
func cozeEnv(s *cozetest.Server) []string {
	return []string{"COZE_API_URL=" + s.URL, "COZE_API_TOKEN=" + cozeToken, "COZE_DATASET_ID=" + cozeDataset}
}

// completedAll reports whether every id has a completed outcome.
func completedAll(outs []pipeline.Outcome, ids []string) bool {
	done := map[string]bool{}
	for _, o := range outs {
		if o.Status == pipeline.StatusCompleted {
			done[o.EventID] = true
		}
	}
	for _, id := range ids {
		if !done[id] {
			return false
		}
	}
	return true
}

// buildShopstream builds bin/shopstream into a temporary directory.
func buildShopstream(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "shopstream")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// subprocess is a `shopstream <command>` child with its output in a file
// (shown in the test log when the test failed). cmd.Process signals it;
// done is closed when it exited, with err its exit status.
type subprocess struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startSubprocess runs bin with args and exactly env (plus PATH and HOME),
// killing it at cleanup if it still runs.
func startSubprocess(t *testing.T, bin string, env []string, args ...string) *subprocess {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "shopstream.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	// Hermetic: only the test's configuration, not the developer's shell.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdout, cmd.Stderr = f, f
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &subprocess{cmd: cmd, log: logPath, done: make(chan struct{})}
	if args[0] == "process" {
		harnessProcessors.Add(1)
	}
	go func() {
		p.err = cmd.Wait()
		if args[0] == "process" {
			harnessProcessors.Add(-1)
		}
		_ = f.Close() // the child has exited; its log is complete or lost either way
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			t.Logf("shopstream %s (pid %d) output, last lines:\n%s", args[0], cmd.Process.Pid, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	return p
}

// waitReady polls the admin listener's /readyz until 200.
func (p *subprocess) waitReady(t *testing.T, adminAddr string) {
	t.Helper()
	waitUntil(t, 30*time.Second, "shopstream /readyz", func() bool {
		select {
		case <-p.done:
			t.Fatalf("shopstream exited before it was ready: %v", p.err)
		default:
		}
		resp, err := http.Get("http://" + adminAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// envValue returns the last value of key in an environment list.
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, _ := strings.Cut(kv, "="); k == key {
			v = val
		}
	}
	return v
}

// groupLag is how many records of topics the group has not committed; a
// partition without a committed offset counts from its log start.
func groupLag(t *testing.T, cfg Config, group string, topics ...string) int64 {
	t.Helper()
	adm := kafkaAdmin(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("lag of %s: end offsets: %v", group, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		t.Fatalf("lag of %s: start offsets: %v", group, err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		t.Fatalf("lag of %s: committed offsets: %v", group, err)
	}
	var lag int64
	ends.Each(func(o kadm.ListedOffset) {
		from := int64(0)
		if st, ok := starts.Lookup(o.Topic, o.Partition); ok {
			from = st.Offset
		}
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.At > from {
			from = c.At
		}
		lag += max(0, o.Offset-from)
	})
	return lag
}

// outcomesOf returns an event's outcomes other than received, in order.
func outcomesOf(outs []pipeline.Outcome, id string) []pipeline.Outcome {
	var out []pipeline.Outcome
	for _, o := range outs {
		if o.EventID == id && o.Status != pipeline.StatusReceived {
			out = append(out, o)
		}
	}
	return out
}

func endOffsets(t *testing.T, cfg Config, topic string) int64 {
	t.Helper()
	ends, err := kafkaAdmin(t, cfg).ListEndOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}
