package consume

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCheckCoPartitionedWaitsForAJustCreatedStateTopic: an aligned state
// topic created while the check runs (`shopstream topics` a moment before)
// passes; one that never appears fails, naming the missing topic.
func TestCheckCoPartitionedWaitsForAJustCreatedStateTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "src"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)

	done := make(chan error, 1)
	go func() { done <- CheckCoPartitioned(t.Context(), adm, []string{"src"}, "state") }()
	if _, err := adm.CreateTopic(t.Context(), 3, 1, nil, "state"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("state topic created during the check: %v", err)
	}

	err = CheckCoPartitioned(t.Context(), adm, []string{"src"}, "never")
	if !errors.Is(err, errMissing) && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("missing state topic: %v, want a not-available error", err)
	}
}
