package console

import (
	"container/heap"
	"context"
	"sort"

	"github.com/shopstream/shopstream/connectors/kafka/replay"
	"github.com/shopstream/shopstream/pipeline"
)

// sortedPartitions lists v's partitions in order, for a stable walk.
func (v *indexView) sortedPartitions() []int32 {
	ps := make([]int32, 0, len(v.parts))
	for p := range v.parts {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// List returns the newest limit (0 = all) dead letters passing f and the
// count of all of them, as replay.List does over the whole DLQ, after a
// refresh. The letters carry no body and their Error is already masked
// (see indexEntry). Among equal failed-at times they come in partition and
// offset order (a full read gives them in fetch order, which interleaves
// partitions as the fetches come).
func (x *DeadLetterIndex) List(ctx context.Context, f pipeline.ReplayFilter, limit int) (replay.Listing, error) {
	v, err := x.refresh(ctx)
	if err != nil {
		return replay.Listing{}, err
	}
	out := replay.Listing{Total: v.total()}
	keep := newestEntries{limit: limit}
	for _, p := range v.sortedPartitions() {
		es := v.parts[p].Entries
		for i := range es {
			if f.MatchDeadLetter(es[i].facts()) {
				out.Matched++
				keep.add(&es[i])
			}
		}
	}
	out.Letters = keep.sorted()
	return out, nil
}

// newestEntries keeps the newest limit entries (all when limit <= 0) by
// failed-at time, the earlier walked first among equal times, as
// replay.List does: a min-heap whose root is the one to drop next.
type newestEntries struct {
	limit int
	seq   int
	h     []keptEntry
}

type keptEntry struct {
	e   *indexEntry
	seq int
}

func (a keptEntry) before(b keptEntry) bool {
	if !a.e.FailedAt.Equal(b.e.FailedAt) {
		return a.e.FailedAt.After(b.e.FailedAt)
	}
	return a.seq < b.seq
}

func (n *newestEntries) Len() int           { return len(n.h) }
func (n *newestEntries) Less(i, j int) bool { return n.h[j].before(n.h[i]) }
func (n *newestEntries) Swap(i, j int)      { n.h[i], n.h[j] = n.h[j], n.h[i] }
func (n *newestEntries) Push(x any)         { n.h = append(n.h, x.(keptEntry)) }
func (n *newestEntries) Pop() any {
	x := n.h[len(n.h)-1]
	n.h = n.h[:len(n.h)-1]
	return x
}

func (n *newestEntries) add(e *indexEntry) {
	k := keptEntry{e: e, seq: n.seq}
	n.seq++
	switch {
	case n.limit <= 0 || len(n.h) < n.limit:
		heap.Push(n, k)
	case k.before(n.h[0]):
		n.h[0] = k
		heap.Fix(n, 0)
	}
}

func (n *newestEntries) sorted() []replay.DeadLetter {
	sort.Slice(n.h, func(i, j int) bool { return n.h[i].before(n.h[j]) })
	out := make([]replay.DeadLetter, len(n.h))
	for i, k := range n.h {
		out[i] = k.e.letter()
	}
	return out
}

// Each calls fn with every dead letter passing f (partition by partition,
// in offset order) after a refresh, without its body; an error from fn
// stops it.
func (x *DeadLetterIndex) Each(ctx context.Context, f pipeline.ReplayFilter, fn func(replay.DeadLetter) error) error {
	v, err := x.refresh(ctx)
	if err != nil {
		return err
	}
	for _, p := range v.sortedPartitions() {
		es := v.parts[p].Entries
		for i := range es {
			if !f.MatchDeadLetter(es[i].facts()) {
				continue
			}
			if err := fn(es[i].letter()); err != nil {
				return err
			}
		}
	}
	return nil
}

// DryRun counts, after a refresh, what a stateless dry run of cfg
// (replay.Run with Stateless and DryRun) counts over the DLQ, from the
// entries: the same decisions (replay.Tally), every dead letter in
// partition and offset order. The letters Skip sees carry no body.
func (x *DeadLetterIndex) DryRun(ctx context.Context, cfg replay.Config) (replay.Progress, error) {
	v, err := x.refresh(ctx)
	if err != nil {
		return replay.Progress{}, err
	}
	t := replay.NewTally(cfg, v.total())
	for _, p := range v.sortedPartitions() {
		es := v.parts[p].Entries
		for i := range es {
			d := es[i].letter()
			d.Error = es[i].Error // the filter reads the error as recorded
			t.Add(d)
		}
	}
	return t.Progress(), nil
}
