package console

import (
	"context"
	"sort"
	"time"

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
	keep := replay.Newest[*indexEntry]{Limit: limit, At: func(e *indexEntry) time.Time { return e.FailedAt }}
	for _, p := range v.sortedPartitions() {
		es := v.parts[p].Entries
		for i := range es {
			if f.MatchDeadLetter(es[i].facts()) {
				out.Matched++
				keep.Add(&es[i])
			}
		}
	}
	kept := keep.Sorted()
	out.Letters = make([]replay.DeadLetter, len(kept))
	for i, e := range kept {
		out.Letters[i] = e.letter()
	}
	return out, nil
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
