package consume

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRunHandlerRetriesTheUnhandledRest: the per-run policy hands a
// partition's queued records over together, in offset order; when the
// handler fails after handling part of a run, only that part is marked and
// the rest is handed over again, starting at the first unhandled offset.
func TestRunHandlerRetriesTheUnhandledRest(t *testing.T) {
	const topic, n = "t", 40
	kcfg := testCluster(t, 2, topic)
	adm := admin(t, kcfg)
	produce(t, kcfg, topic, 0, n) // one produce: one fetch brings them all
	produce(t, kcfg, topic, 1, n)

	var mu sync.Mutex
	runs := map[int32][][]int64{}  // partition -> offsets of each call
	handled := map[int32][]int64{} // partition -> offsets reported handled, in order
	failed := map[int32]bool{}     // the first call of each partition fails halfway
	errHalf := errors.New("half a run")
	cfg := Config{Group: "g", Topics: []string{topic},
		HandleRun: func(_ context.Context, rs []*kgo.Record) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			p := rs[0].Partition
			offs := make([]int64, len(rs))
			for i, r := range rs {
				if r.Partition != p || (i > 0 && r.Offset != rs[i-1].Offset+1) {
					t.Errorf("run of partition %d has %s/%d at %d: not consecutive", p, r.Topic, r.Offset, i)
				}
				offs[i] = r.Offset
			}
			runs[p] = append(runs[p], offs)
			if !failed[p] && len(rs) > 1 {
				failed[p] = true
				half := len(rs) / 2
				handled[p] = append(handled[p], offs[:half]...)
				return half, errHalf
			}
			handled[p] = append(handled[p], offs...)
			return 0, nil
		}}
	start(t, kcfg, cfg)
	eventually(t, "both partitions committed to the end", func() bool {
		return committed(t.Context(), t, adm, "g", topic, 0) == n && committed(t.Context(), t, adm, "g", topic, 1) == n
	})
	mu.Lock()
	defer mu.Unlock()
	for p := range int32(2) {
		if !failed[p] {
			t.Fatalf("partition %d: no run of more than one record in %v", p, runs[p])
		}
		for i, off := range handled[p] {
			if off != int64(i) {
				t.Fatalf("partition %d: handled offsets %v, want 0..%d once each in order", p, handled[p], n-1)
			}
		}
		if len(handled[p]) != n {
			t.Fatalf("partition %d: %d records handled, want %d", p, len(handled[p]), n)
		}
		first, second := runs[p][0], runs[p][1]
		if want := first[len(first)/2]; second[0] != want {
			t.Errorf("partition %d: the run after the failure starts at %d, want %d (the first unhandled)", p, second[0], want)
		}
	}
}

// TestRunHandlerDoneWithAnError: a handler may report every record handled
// and an error besides; the run is marked and the worker goes on, never
// retrying an empty rest.
func TestRunHandlerDoneWithAnError(t *testing.T) {
	const topic, n = "t", 10
	kcfg := testCluster(t, 1, topic)
	adm := admin(t, kcfg)
	produce(t, kcfg, topic, 0, n)
	var mu sync.Mutex
	calls := 0
	cfg := Config{Group: "g", Topics: []string{topic},
		HandleRun: func(_ context.Context, rs []*kgo.Record) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if len(rs) == 0 {
				t.Errorf("HandleRun called with an empty run")
			}
			return len(rs), errors.New("handled, but the outcome writer complained")
		}}
	start(t, kcfg, cfg)
	eventually(t, "the partition committed to the end", func() bool {
		return committed(t.Context(), t, adm, "g", topic, 0) == n
	})
	mu.Lock()
	defer mu.Unlock()
	if calls == 0 || calls > n {
		t.Fatalf("%d calls for %d records", calls, n)
	}
}
