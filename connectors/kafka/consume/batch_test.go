package consume

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBatchRevokeKeepsTheRest: member a's batch (records of 4 partitions)
// is in the handler when b joins; the cooperative revoke cuts the batch off
// unmarked, a carries on with the partitions it kept, b re-reads the moved
// ones from the committed offset, and every partition ends fully committed.
func TestBatchRevokeKeepsTheRest(t *testing.T) {
	const topic, perPartition = "t", 5
	kcfg := testCluster(t, 4, topic)
	adm := admin(t, kcfg)
	for p := range int32(4) {
		produce(t, kcfg, topic, p, perPartition)
	}
	var first atomic.Bool
	var inHand, cutOff atomic.Int32
	s := newSeen()
	batch := func(member string) BatchHandler {
		return func(ctx context.Context, rs []*kgo.Record) error {
			if member == "a" && !first.Swap(true) {
				inHand.Add(1)
				<-ctx.Done()
				cutOff.Add(1)
				return ctx.Err()
			}
			for _, r := range rs {
				s.add(member, r)
			}
			return nil
		}
	}
	cfg := Config{Group: "g", Topics: []string{topic}, BatchSize: 100, FlushInterval: 50 * time.Millisecond}
	a := cfg
	a.HandleBatch = batch("a")
	start(t, kcfg, a)
	eventually(t, "a's first batch in the handler", func() bool { return inHand.Load() == 1 })
	b := cfg
	b.HandleBatch = batch("b")
	start(t, kcfg, b)
	eventually(t, "the batch cut off by the revoke", func() bool { return cutOff.Load() == 1 })
	eventually(t, "every record handled", func() bool { return s.count() == 4*perPartition })
	eventually(t, "every partition committed", func() bool {
		for p := range int32(4) {
			if committed(t.Context(), t, adm, "g", topic, p) != perPartition {
				return false
			}
		}
		return true
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.by["a"]) == 0 || len(s.by["b"]) == 0 {
		t.Errorf("partitions handled: a %v, b %v; want both members to work", s.by["a"], s.by["b"])
	}
}
