// Package kafkatest connects tests to the real Apache Kafka broker that
// deploy/local/kafka.sh runs (address in SHOPSTREAM_TEST_KAFKA): it skips
// when the variable is empty and fails when the broker it names does not
// answer, creates uniquely named topics that are deleted when the test ends,
// reads records back, and stops and restarts the local broker for outage
// tests.
//
// It imports only franz-go, never connectors/kafka, so that package's own
// in-package tests may use it without an import cycle.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/internal/clock"
)

// EnvBrokers names the variable holding the broker address (host:port,
// comma-separated for several). The Makefile exports 127.0.0.1:9092.
const EnvBrokers = "SHOPSTREAM_TEST_KAFKA"

// TopicPrefix starts every topic this package names, so leftovers of an
// interrupted run are easy to find: kcat -L | grep ' "it-'.
const TopicPrefix = "it-"

// Brokers returns the seed brokers of SHOPSTREAM_TEST_KAFKA. It skips the
// test when the variable is empty and fails it when the broker does not
// answer within 10 s: a configured but absent broker is an error, not a
// reason to pass quietly.
func Brokers(t testing.TB) []string {
	t.Helper()
	brokers := brokersFromEnv()
	if len(brokers) == 0 {
		t.Skipf("%s is not set: start the local broker (deploy/local/kafka.sh start, or make infra-up) and export %s=127.0.0.1:9092 to run this test", EnvBrokers, EnvBrokers)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("shopstream-kafkatest-ping"))
	if err != nil {
		t.Fatalf("%s=%s: %v", EnvBrokers, os.Getenv(EnvBrokers), err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("%s=%s is set but the broker does not answer: %v (start it: deploy/local/kafka.sh start)", EnvBrokers, os.Getenv(EnvBrokers), err)
	}
	return brokers
}

func brokersFromEnv() []string {
	var out []string
	for _, b := range strings.Split(os.Getenv(EnvBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// NewClient returns a franz-go client on the test broker, closed when the
// test ends. opts come after the seed brokers.
func NewClient(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	brokers := Brokers(t)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID("shopstream-kafkatest")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns an admin client on the test broker, closed when the test
// ends.
func Admin(t testing.TB) *kadm.Client {
	t.Helper()
	return kadm.NewClient(NewClient(t))
}

// UniquePrefix returns a fresh "it-<random>-" prefix. Prepended to a
// production topic name it gives a test its own copy of that topic:
// it-3f9a1c2e-evershop.order.
func UniquePrefix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return TopicPrefix + hex.EncodeToString(b) + "-"
}

// CreateTopic creates the topic UniquePrefix()+base with the given
// partitions (replication 1) and configs, deletes it when the test ends, and
// returns its name once every partition has a leader.
func CreateTopic(t testing.TB, base string, partitions int32, configs map[string]string) string {
	t.Helper()
	name := UniquePrefix() + base
	createTopics(t, partitions, configs, name)
	return name
}

// CreateTopics is CreateTopic for several topics sharing one fresh prefix
// (it-3f9a1c2e-evershop.product, it-3f9a1c2e-evershop.order, ...); names
// come back in the order of bases.
func CreateTopics(t testing.TB, partitions int32, bases ...string) []string {
	t.Helper()
	prefix := UniquePrefix()
	names := make([]string, len(bases))
	for i, b := range bases {
		names[i] = prefix + b
	}
	createTopics(t, partitions, nil, names...)
	return names
}

func createTopics(t testing.TB, partitions int32, configs map[string]string, names ...string) {
	t.Helper()
	adm := Admin(t)
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = kadm.StringPtr(v)
	}
	DeleteOnCleanup(t, names...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resps, err := adm.CreateTopics(ctx, partitions, 1, cfg, names...)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatalf("create topics %v: %v", names, err)
	}
	WaitForLeaders(t, 30*time.Second, names...)
}

// DeleteOnCleanup deletes topics when the test ends, for topics created by
// the code under test (kafka.EnsureTopics). A topic that is already gone is
// fine; any other failure is logged, not failed, so that a cleanup problem
// never hides the test's own result.
func DeleteOnCleanup(t testing.TB, topics ...string) {
	t.Helper()
	if len(topics) == 0 {
		return
	}
	brokers := Brokers(t)
	t.Cleanup(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ClientID("shopstream-kafkatest-cleanup"))
		if err != nil {
			t.Logf("delete topics %v: %v", topics, err)
			return
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		resps, err := kadm.NewClient(cl).DeleteTopics(ctx, topics...)
		if err != nil {
			t.Logf("delete topics %v: %v", topics, err)
			return
		}
		for _, r := range resps {
			if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
				t.Logf("delete topic %s: %v", r.Topic, r.Err)
			}
		}
	})
}

// WaitForLeaders polls the metadata until every partition of topics exists
// and has a leader, or fails the test after timeout.
func WaitForLeaders(t testing.TB, timeout time.Duration, topics ...string) {
	t.Helper()
	adm := Admin(t)
	err := clock.Poll(t.Context(), 50*time.Millisecond, timeout, func(ctx context.Context) error {
		return leadersReady(ctx, adm, topics)
	})
	if err != nil {
		t.Fatalf("topics %v not ready after %s: %v", topics, timeout, err)
	}
}

func leadersReady(ctx context.Context, adm *kadm.Client, topics []string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return err
	}
	for _, name := range topics {
		d, ok := details[name]
		switch {
		case !ok:
			return errors.New(name + ": not in the metadata")
		case d.Err != nil:
			return d.Err
		case len(d.Partitions) == 0:
			return errors.New(name + ": no partitions yet")
		}
		for _, p := range d.Partitions {
			if p.Err != nil {
				return p.Err
			}
			if p.Leader < 0 {
				return errors.New(name + ": a partition has no leader")
			}
		}
	}
	return nil
}

// EndOffsets returns the high watermark of every partition of topic.
func EndOffsets(t testing.TB, topic string) map[int32]int64 {
	t.Helper()
	adm := Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	if len(out) == 0 {
		t.Fatalf("end offsets of %s: topic has no partitions", topic)
	}
	return out
}

// Total sums end offsets: the number of records a fresh topic received.
func Total(offsets map[int32]int64) int64 {
	var n int64
	for _, o := range offsets {
		n += o
	}
	return n
}
