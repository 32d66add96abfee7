package kafka_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/kafkatest"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// javaMurmur2 is org.apache.kafka.common.utils.Utils.murmur2 transcribed
// with Java's 32-bit signed arithmetic (>>> is a shift of the unsigned
// value). It is written here from the Java source, not taken from franz-go,
// so the test checks franz-go's partitioner against Kafka itself.
func javaMurmur2(data []byte) int32 {
	const (
		seed int32 = -1756908916 // 0x9747b28c
		m    int32 = 0x5bd1e995
		r          = 24
	)
	length := int32(len(data))
	h := seed ^ length
	length4 := length / 4
	for i := int32(0); i < length4; i++ {
		i4 := i * 4
		k := int32(data[i4]) + int32(data[i4+1])<<8 + int32(data[i4+2])<<16 + int32(data[i4+3])<<24
		k *= m
		k ^= int32(uint32(k) >> r)
		k *= m
		h *= m
		h ^= k
	}
	tail := length &^ 3
	switch length % 4 {
	case 3:
		h ^= int32(data[tail+2]) << 16
		fallthrough
	case 2:
		h ^= int32(data[tail+1]) << 8
		fallthrough
	case 1:
		h ^= int32(data[tail])
		h *= m
	}
	h ^= int32(uint32(h) >> 13)
	h *= m
	h ^= int32(uint32(h) >> 15)
	return h
}

// javaPartition is the Java client's choice for a keyed record:
// Utils.toPositive(Utils.murmur2(keyBytes)) % numPartitions.
func javaPartition(key string, partitions int32) int32 {
	return (javaMurmur2([]byte(key)) & 0x7fffffff) % partitions
}

// TestJavaMurmur2Vectors pins the transcription to Kafka's own test vectors
// (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java).
func TestJavaMurmur2Vectors(t *testing.T) {
	for in, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := javaMurmur2([]byte(in)); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
}

// Keys of every length class (0-3 trailing bytes), ids in both webhook
// shapes, and non-ASCII bytes.
var partitionKeys = []string{
	"7", "42", "123", "1001", "10001", "456", "789",
	"0e6c2a8e-5d0b-4d77-a1c9-2b8f6c1d9a40", "ORD-10001", "cliente-ñandú-κλειδί",
	"a-little-bit-longer-string", "21",
}

func newProducer(t *testing.T, publishTimeout time.Duration) *kafka.Producer {
	t.Helper()
	cfg := kafka.DefaultConfig()
	cfg.Brokers = kafkatest.Brokers(t)
	cfg.ClientIDPrefix = "shopstream-it"
	if publishTimeout > 0 {
		cfg.PublishTimeout = publishTimeout
	}
	p, err := kafka.NewProducer(cfg, "producer", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/webhooks/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimRight(b, "\n")
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func headerMap(t *testing.T, r *kgo.Record) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, h := range r.Headers {
		if _, dup := m[h.Key]; dup {
			t.Errorf("header %s appears twice", h.Key)
		}
		m[h.Key] = string(h.Value)
	}
	return m
}

func TestPublishReadBack(t *testing.T) {
	const partitions = 6
	prod := newProducer(t, 0)
	topic := kafkatest.CreateTopic(t, schemas.TopicOrder, partitions, nil)

	sent := map[string]pipeline.Event{}
	origins := map[string]pipeline.Origin{} // where Publish says each landed
	for i, key := range partitionKeys {
		id, _ := json.Marshal(key)
		// Odd but valid bytes (indentation, an escaped character, a raw
		// UTF-8 one, a trailing newline) that re-serialising would change.
		body := fmt.Appendf(nil, "{\n  \"event\": \"order.updated\",\t\"timestamp\":\"2026-11-21T15:02:11Z\",\n  \"data\": {\"order_id\": %s, \"status\": \"shipped\", \"note\": \"caf\\u00e9 – №%d\"}\n}\n", id, i)
		ev := pipeline.Event{
			ID:       fmt.Sprintf("it-event-%d-%d", i, time.Now().UnixNano()),
			Type:     pipeline.OrderUpdated,
			Kind:     pipeline.KindOrder,
			EntityID: key,
			// Not UTC: the header must still be written in UTC.
			ReceivedAt: time.Date(2026, 11, 21, 12, 2, 11, 123456789+i, time.FixedZone("BRT", -3*3600)),
			Body:       body,
		}
		at, err := prod.Publish(t.Context(), topic, ev, pipeline.SchemeEverShop)
		if err != nil {
			t.Fatalf("Publish %q: %v", key, err)
		}
		sent[key], origins[key] = ev, at
	}

	used := map[int32]bool{}
	for _, r := range kafkatest.ReadN(t, len(sent), topic) {
		key := string(r.Key)
		ev, ok := sent[key]
		if !ok {
			t.Errorf("record with unexpected key %q", key)
			continue
		}
		delete(sent, key)
		if !bytes.Equal(r.Value, ev.Body) {
			t.Errorf("key %q: value is not the body byte for byte:\n got %q\nwant %q", key, r.Value, ev.Body)
		}
		h := headerMap(t, r)
		want := map[string]string{
			schemas.HeaderEventID:         ev.ID,
			schemas.HeaderEventType:       pipeline.OrderUpdated,
			schemas.HeaderSignatureScheme: pipeline.SchemeEverShop,
		}
		for k, v := range want {
			if h[k] != v {
				t.Errorf("key %q: header %s = %q, want %q", key, k, h[k], v)
			}
		}
		if len(h) != len(want)+1 {
			t.Errorf("key %q: headers %v, want exactly %v and %s", key, h, slices.Sorted(maps.Keys(want)), schemas.HeaderReceivedAt)
		}
		// RFC 3339 in UTC with the nanoseconds kept.
		if at, err := time.Parse(time.RFC3339Nano, h[schemas.HeaderReceivedAt]); err != nil || !at.Equal(ev.ReceivedAt) ||
			!strings.HasSuffix(h[schemas.HeaderReceivedAt], "Z") {
			t.Errorf("key %q: received-at %q does not parse back to %s (%v)", key, h[schemas.HeaderReceivedAt], ev.ReceivedAt, err)
		}
		if want := javaPartition(key, partitions); r.Partition != want {
			t.Errorf("key %q: partition %d, the Java client would pick %d", key, r.Partition, want)
		}
		if at := origins[key]; at != (pipeline.Origin{Topic: topic, Partition: r.Partition, Offset: r.Offset}) {
			t.Errorf("key %q: Publish said %+v, the record is at %s[%d]@%d", key, at, topic, r.Partition, r.Offset)
		}
		used[r.Partition] = true
	}
	for key := range sent {
		t.Errorf("record for key %q not read back", key)
	}
	// The keys spread over several partitions, so the check above could
	// have failed: it is not all-in-partition-0 by accident.
	if len(used) < 3 {
		t.Errorf("%d keys used only %d partitions; pick keys that discriminate", len(partitionKeys), len(used))
	}
}

// TestKcatPartitionsLikeShopstream checks docs/contract.md's replay claim from the
// other side: kcat (librdkafka) with -X partitioner=murmur2_random, as in
// the runbook, puts every key where shopstream's producer and the Java
// client put it.
func TestKcatPartitionsLikeShopstream(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat is not installed (deploy/local/kafka.sh install provides it)")
	}
	const partitions = 6
	topic := kafkatest.CreateTopic(t, schemas.TopicOrder, partitions, nil)
	var in strings.Builder
	for _, key := range partitionKeys {
		fmt.Fprintf(&in, "%s\t{\"key\":%q}\n", key, key)
	}
	cmd := exec.CommandContext(t.Context(), "kcat", "-P", "-b", strings.Join(brokers, ","), "-t", topic, "-K", "\t",
		"-X", "partitioner=murmur2_random")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	for _, r := range kafkatest.ReadN(t, len(partitionKeys), topic) {
		if want := javaPartition(string(r.Key), partitions); r.Partition != want {
			t.Errorf("kcat put key %q in partition %d, Java (and shopstream) %d", r.Key, r.Partition, want)
		}
	}
}

// TestEnsureTopics runs EnsureTopics as `shopstream topics` does, one
// fresh client per run: franz-go answers kadm's metadata from a cache up to
// 5 s old, which TestEnsureTopicsSeesTopicsCreatedMeanwhile is about.
func TestEnsureTopics(t *testing.T) {
	prefix := kafkatest.UniquePrefix()
	planCfg := kafka.TopicPlanConfig{
		Partitions:    2,
		Replication:   1,
		RetryTiers:    []time.Duration{2 * time.Second, time.Minute},
		DLQRetention:  48 * time.Hour,
		MinInSyncReps: 1,
		// Source and retry topics keep twice this: 10 days.
		RetryMaxAge: 5 * 24 * time.Hour,
	}
	plan := func(partitions int32) []kafka.TopicSpec {
		c := planCfg
		c.Partitions = partitions
		specs := kafka.TopicPlan(c)
		for i := range specs {
			specs[i].Name = prefix + specs[i].Name
		}
		return specs
	}
	names := func(specs []kafka.TopicSpec) []string {
		out := make([]string, len(specs))
		for i, s := range specs {
			out[i] = s.Name
		}
		return out
	}
	specs := plan(2)
	kafkatest.DeleteOnCleanup(t, names(specs)...)
	name := func(base string) string { return prefix + base }
	wantNames := []string{
		name(schemas.TopicProduct), name(schemas.TopicOrder), name(schemas.TopicCustomer),
		name(schemas.RetryTopic(2 * time.Second)), name(schemas.RetryTopic(time.Minute)),
		name(schemas.TopicDLQ), name(schemas.TopicEvents), name(schemas.TopicEventsDLQ), name(schemas.TopicCatalogState),
		name(schemas.TopicOrderProgress), name(schemas.TopicAlertState), name(schemas.TopicAlerts), name(schemas.TopicAlertsDeferred),
		name(schemas.TopicCatalogSync), name(schemas.TopicCatalogPublished),
	}
	if got := names(specs); !slices.Equal(got, wantNames) {
		t.Fatalf("plan = %v\nwant %v", got, wantNames)
	}

	ensure := func(specs []kafka.TopicSpec) map[string]string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		reports, err := kafka.EnsureTopics(ctx, kafkatest.Admin(t), specs)
		if err != nil {
			t.Fatalf("EnsureTopics: %v (reports %v)", err, reports)
		}
		out := map[string]string{}
		for _, r := range reports {
			out[r.Name] = r.Action
		}
		if len(out) != len(specs) {
			t.Fatalf("EnsureTopics reported %d topics, want %d: %v", len(out), len(specs), reports)
		}
		return out
	}
	expectActions := func(run string, got map[string]string, want func(name string) string) {
		t.Helper()
		for _, n := range wantNames {
			if got[n] != want(n) {
				t.Errorf("%s: %s: action %q, want %q", run, n, got[n], want(n))
			}
		}
	}
	partitionCounts := func() map[string]int {
		t.Helper()
		kafkatest.WaitForLeaders(t, 30*time.Second, wantNames...)
		details, err := kafkatest.Admin(t).ListTopics(t.Context(), wantNames...)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, d := range details {
			out[d.Topic] = len(d.Partitions)
		}
		return out
	}
	expectPartitions := func(want int) {
		t.Helper()
		got := partitionCounts()
		for _, n := range wantNames {
			w := want
			if n == name(schemas.TopicCatalogSync) || n == name(schemas.TopicAlerts) || n == name(schemas.TopicCatalogPublished) || n == name(schemas.TopicAlertsDeferred) {
				w = 1 // one owner, one debouncer, whatever the plan's size
			}
			if got[n] != w {
				t.Errorf("%s has %d partitions, want %d", n, got[n], w)
			}
		}
	}

	expectActions("first run", ensure(specs), func(string) string { return "created" })
	expectPartitions(2)
	expectConfigs(t, kafkatest.Admin(t), prefix)

	expectActions("second run", ensure(specs), func(string) string { return "ok" })
	expectPartitions(2)

	// An operator changed the DLQ's retention and the catalog state's
	// cleanup policy by hand; the plan grows to 3 partitions.
	drift := []struct{ topic, key, value string }{
		{name(schemas.TopicDLQ), "retention.ms", "3600000"},
		{name(schemas.TopicEvents), "retention.ms", "3600000"},
		{name(schemas.TopicCatalogState), "cleanup.policy", "delete"},
		{name(schemas.TopicOrder), "retention.ms", "3600000"},
		{name(schemas.RetryTopic(time.Minute)), "retention.ms", "3600000"},
		{name(schemas.TopicOrderProgress), "cleanup.policy", "delete"},
	}
	adm := kafkatest.Admin(t)
	for _, d := range drift {
		resps, err := adm.AlterTopicConfigs(t.Context(), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: d.key, Value: kadm.StringPtr(d.value)}}, d.topic)
		for _, r := range resps {
			if err == nil {
				err = r.Err
			}
		}
		if err != nil {
			t.Fatalf("drift %s %s: %v", d.topic, d.key, err)
		}
	}
	expectActions("raised to 3", ensure(plan(3)), func(n string) string {
		if n == name(schemas.TopicCatalogSync) || n == name(schemas.TopicAlerts) || n == name(schemas.TopicCatalogPublished) || n == name(schemas.TopicAlertsDeferred) {
			return "ok"
		}
		return "partitions raised from 2 to 3"
	})
	expectPartitions(3)
	expectConfigs(t, kafkatest.Admin(t), prefix)

	expectActions("after raise", ensure(plan(3)), func(string) string { return "ok" })
	// A smaller plan never lowers partitions (that would move keys).
	expectActions("smaller plan", ensure(plan(2)), func(string) string { return "ok" })
	expectPartitions(3)
}

// expectConfigs checks the topic-level configs the plan sets, read back
// with DescribeTopicConfigs.
func expectConfigs(t *testing.T, adm *kadm.Client, prefix string) {
	t.Helper()
	want := map[string]map[string]string{
		// Source and retry topics: 2 x the retry max age (5 days).
		schemas.TopicOrder:                  {"min.insync.replicas": "1", "cleanup.policy": "delete", "retention.ms": "864000000"},
		schemas.TopicProduct:                {"retention.ms": "864000000"},
		schemas.TopicCustomer:               {"retention.ms": "864000000"},
		schemas.RetryTopic(2 * time.Second): {"retention.ms": "864000000", "min.insync.replicas": "1"},
		schemas.RetryTopic(time.Minute):     {"retention.ms": "864000000"},
		schemas.TopicOrderProgress:          {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000", "min.insync.replicas": "1"},
		schemas.TopicDLQ:                    {"retention.ms": "172800000", "min.insync.replicas": "1", "cleanup.policy": "delete"},
		schemas.TopicCatalogState:           {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000", "min.insync.replicas": "1"},
		schemas.TopicCatalogSync:            {"min.insync.replicas": "1"},
		schemas.TopicCatalogPublished:       {"cleanup.policy": "compact", "max.message.bytes": "8454144", "min.insync.replicas": "1"},
		schemas.TopicAlertState:             {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000", "min.insync.replicas": "1"},
		schemas.TopicAlerts:                 {"retention.ms": "604800000", "min.insync.replicas": "1"},
		schemas.TopicAlertsDeferred:         {"retention.ms": "604800000", "min.insync.replicas": "1"},
		schemas.TopicEvents:                 {"retention.ms": "604800000", "min.insync.replicas": "1"}, // 7 days
		schemas.TopicEventsDLQ:              {"retention.ms": "172800000", "min.insync.replicas": "1"},
	}
	var topics []string
	for base := range want {
		topics = append(topics, prefix+base)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		t.Fatalf("DescribeTopicConfigs: %v", err)
	}
	for base, kv := range want {
		rc, err := rcs.On(prefix+base, nil)
		if err == nil {
			err = rc.Err
		}
		if err != nil {
			t.Errorf("configs of %s: %v", prefix+base, err)
			continue
		}
		for key, value := range kv {
			i := slices.IndexFunc(rc.Configs, func(c kadm.Config) bool { return c.Key == key })
			if i < 0 {
				t.Errorf("%s: config %s not described", prefix+base, key)
				continue
			}
			c := rc.Configs[i]
			if got := c.MaybeValue(); got != value {
				t.Errorf("%s: %s = %q, want %q", prefix+base, key, got, value)
			}
			// What the plan sets is set on the topic, not inherited from a
			// broker default that could change under it.
			if key != "cleanup.policy" || value == "compact" {
				if c.Source != kmsg.ConfigSourceDynamicTopicConfig {
					t.Errorf("%s: %s comes from %v, want the topic's own config", prefix+base, key, c.Source)
				}
			}
		}
	}
}

// TestEnsureTopicsSeesTopicsCreatedMeanwhile: two `shopstream topics` run
// at once (two deploy jobs, an init container per replica), or one client
// runs EnsureTopics twice within franz-go's 5 s metadata cache. The topic
// appears after this client last looked, with an older plan's partitions
// and configs. EnsureTopics must still verify it, not report "created" for
// a topic it did not create and leave it as it found it.
func TestEnsureTopicsSeesTopicsCreatedMeanwhile(t *testing.T) {
	name := kafkatest.UniquePrefix() + schemas.TopicDLQ
	kafkatest.DeleteOnCleanup(t, name)
	adm := kafkatest.Admin(t)
	// This client looks first: the topic does not exist yet.
	if missing, err := kafka.MissingTopics(t.Context(), adm, []string{name}); err != nil || len(missing) != 1 {
		t.Fatalf("MissingTopics = %v, %v", missing, err)
	}
	// Someone else creates it, smaller and with a short retention.
	other := kafkatest.Admin(t)
	resp, err := other.CreateTopic(t.Context(), 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.WaitForLeaders(t, 30*time.Second, name)

	spec := kafka.TopicSpec{Name: name, Partitions: 3, Replication: 1, Configs: map[string]string{"retention.ms": "172800000"}}
	reports, err := kafka.EnsureTopics(t.Context(), adm, []kafka.TopicSpec{spec})
	if err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	if len(reports) != 1 || reports[0].Action != "partitions raised from 1 to 3" {
		t.Errorf("EnsureTopics reported %+v, want partitions raised from 1 to 3", reports)
	}
	details, err := kafkatest.Admin(t).ListTopics(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(details[name].Partitions); n != 3 {
		t.Errorf("%s has %d partitions after EnsureTopics, want 3", name, n)
	}
	rcs, err := other.DescribeTopicConfigs(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := rcs.On(name, nil)
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" && c.MaybeValue() != "172800000" {
			t.Errorf("%s retention.ms = %s after EnsureTopics, want 172800000", name, c.MaybeValue())
		}
	}
}

func TestEventFromRecordRoundTrip(t *testing.T) {
	prod := newProducer(t, 0)
	topic := kafkatest.CreateTopic(t, schemas.TopicOrder, 3, nil)
	body := fixture(t, "order.updated.evershop-row.json")
	env, err := pipeline.ParseEnvelope(pipeline.KindOrder, body)
	if err != nil {
		t.Fatal(err)
	}
	sent := pipeline.Event{
		ID: "it-" + strconv.FormatInt(time.Now().UnixNano(), 10), Type: env.Event, Kind: pipeline.KindOrder,
		EntityID: env.EntityID, Timestamp: env.Timestamp, ReceivedAt: time.Now(), Body: body, Data: env.Data,
	}
	if _, err := prod.Publish(t.Context(), topic, sent, pipeline.SchemeStandardWebhooks); err != nil {
		t.Fatal(err)
	}
	r := kafkatest.ReadN(t, 1, topic)[0]
	got, err := kafka.EventFromRecord(r)
	if err != nil {
		t.Fatalf("EventFromRecord: %v", err)
	}
	if got.ID != sent.ID || got.Type != sent.Type || got.Kind != sent.Kind || got.EntityID != "1001" ||
		!got.Timestamp.Equal(sent.Timestamp) || !got.ReceivedAt.Equal(sent.ReceivedAt) ||
		!bytes.Equal(got.Body, sent.Body) || !bytes.Equal(got.Data, sent.Data) {
		t.Errorf("EventFromRecord =\n%+v\nwant\n%+v", got, sent)
	}
}

// TestEventFromRecordWithoutHeaders covers records an operator wrote with
// `kcat -P` (key and value, no headers): the event is re-derived from the
// body as the ingress would have, and its id is the body's SHA-256.
func TestEventFromRecordWithoutHeaders(t *testing.T) {
	const partitions = 3
	topic := kafkatest.CreateTopic(t, schemas.TopicOrder, partitions, nil)
	cl := kafkatest.NewClient(t, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	body := fixture(t, "order.updated.evershop-row.json")
	garbage := []byte("not a webhook")
	recs := []*kgo.Record{
		{Topic: topic, Key: []byte("1001"), Value: body},
		{Topic: topic, Value: body}, // no key either: the id comes from the body
		{Topic: topic, Key: []byte("x"), Value: garbage},
	}
	before := time.Now().Add(-time.Second)
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	read := kafkatest.ReadN(t, len(recs), topic)
	if _, err := exec.LookPath("kcat"); err == nil {
		// The real thing, as the runbook writes it.
		cmd := exec.CommandContext(t.Context(), "kcat", "-P", "-b", strings.Join(kafkatest.Brokers(t), ","), "-t", topic,
			"-K", "\t", "-X", "partitioner=murmur2_random")
		cmd.Stdin = strings.NewReader("1001\t" + string(body) + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat -P: %v\n%s", err, out)
		}
		read = kafkatest.ReadN(t, len(recs)+1, topic)
	} else {
		t.Log("kcat is not installed: checked records produced without headers by franz-go only")
	}
	wantID := sha256Hex(body)
	var webhooks int
	for _, r := range read {
		if len(r.Headers) != 0 {
			t.Fatalf("record has headers %v", r.Headers)
		}
		ev, err := kafka.EventFromRecord(r)
		if ev.ID != sha256Hex(r.Value) {
			t.Errorf("record %q: event id %q, want sha256 of the body %q", r.Key, ev.ID, sha256Hex(r.Value))
		}
		if bytes.Equal(r.Value, garbage) {
			if !pipeline.IsPermanent(err) {
				t.Errorf("garbage record: err = %v, want a permanent error", err)
			}
			continue
		}
		webhooks++
		if err != nil {
			t.Errorf("record %q: %v", r.Key, err)
			continue
		}
		if ev.ID != wantID || ev.Type != pipeline.OrderUpdated || ev.Kind != pipeline.KindOrder || ev.EntityID != "1001" ||
			!bytes.Equal(ev.Body, body) || ev.Timestamp.IsZero() {
			t.Errorf("record %q: event %+v", r.Key, ev)
		}
		// Without the header, the record's timestamp stands for received-at.
		if !ev.ReceivedAt.Equal(r.Timestamp) || ev.ReceivedAt.Before(before) {
			t.Errorf("record %q: received-at %s, want the record timestamp %s", r.Key, ev.ReceivedAt, r.Timestamp)
		}
		if len(r.Key) > 0 && r.Partition != javaPartition("1001", partitions) {
			t.Errorf("record %q: partition %d, want %d (where the ingress would have put it)", r.Key, r.Partition, javaPartition("1001", partitions))
		}
	}
	if webhooks != len(read)-1 {
		t.Errorf("decoded %d webhooks of %d records", webhooks, len(read))
	}
}
