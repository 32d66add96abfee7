package kafkatest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Fake starts an in-process kfake cluster of one broker, with opts (seed
// topics with kfake.SeedTopics, fault hooks with ControlKey), closed when
// the test ends. Unit tests of Kafka glue use it; the integration suite
// talks to the real broker (NewClient, NewTopic).
func Fake(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}
