package kafka_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/kafkatest"
)

// TestLagOfAGroupThatNeverCommitted: before a group's first commit the
// broker does not know it (GROUP_ID_NOT_FOUND); its lag is every record
// from the log start, measured without an error, then what is left after
// a commit.
func TestLagOfAGroupThatNeverCommitted(t *testing.T) {
	c := kafkatest.Fake(t, kfake.SeedTopics(2, "evershop.order"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("evershop.order"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	for _, key := range []string{"a", "b", "c", "d", "e"} {
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Key: []byte(key), Value: []byte("{}")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	mon := kafka.NewLagMonitor(adm, map[string][]string{"shopstream-processor": {"evershop.order"}}, 0, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	lags, err := mon.Measure(t.Context())
	if err != nil {
		t.Fatalf("Measure before any commit: %v", err)
	}
	if got := lags["shopstream-processor"]["evershop.order"]; got != 5 {
		t.Fatalf("lag before any commit = %d, want 5", got)
	}

	ends, err := adm.ListEndOffsets(context.Background(), "evershop.order")
	if err != nil {
		t.Fatal(err)
	}
	var commit kadm.Offsets = map[string]map[int32]kadm.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Partition == 0 {
			commit.AddOffset(o.Topic, o.Partition, o.Offset, -1)
		}
	})
	if _, err := adm.CommitOffsets(t.Context(), "shopstream-processor", commit); err != nil {
		t.Fatal(err)
	}
	if lags, err = mon.Measure(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) {
		if o.Partition == 1 {
			want = o.Offset
		}
	})
	if got := lags["shopstream-processor"]["evershop.order"]; got != want {
		t.Fatalf("lag after committing partition 0 = %d, want %d (partition 1's records)", got, want)
	}
}
