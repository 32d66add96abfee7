package consume

import (
	"context"
	"fmt"
	"maps"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Span is the part of one partition a Snapshot reads: offsets [Start, End).
type Span struct{ Start, End int64 }

// Snapshot is a topic's extent fixed at one moment: what ReadSnapshot
// reads. Records written later are left for the next snapshot.
type Snapshot struct {
	Topic string
	Spans map[int32]Span // only partitions with something to read
}

// Records is how many offsets the snapshot spans (an upper bound of the
// records it reads: compaction leaves gaps).
func (s Snapshot) Records() int64 {
	var n int64
	for _, sp := range s.Spans {
		n += sp.End - sp.Start
	}
	return n
}

// TakeSnapshot lists topic's start and end offsets now. from, when given,
// holds a first offset per partition (a group's committed position); it is
// raised to the log start. Partitions with nothing to read are left out.
func TakeSnapshot(ctx context.Context, adm *kadm.Client, topic string, from map[int32]int64) (Snapshot, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	s := Snapshot{Topic: topic, Spans: map[int32]Span{}}
	ends.Each(func(o kadm.ListedOffset) {
		start := int64(0)
		if st, ok := starts.Lookup(o.Topic, o.Partition); ok {
			start = st.Offset
		}
		if f, ok := from[o.Partition]; ok && f > start {
			start = f
		}
		if start < o.Offset {
			s.Spans[o.Partition] = Span{Start: start, End: o.Offset}
		}
	})
	return s, nil
}

// Read consumes the snapshot with cl, a client that is in no group and
// consumes nothing else, calling fn for each record in per-partition order
// until every partition reached its end; it stops at fn's first error. The
// last offset of a partition always holds a record (compaction never
// touches the active segment and shopstream writes no transactions), so the
// loop ends.
func (s Snapshot) Read(ctx context.Context, cl *kgo.Client, fn func(*kgo.Record) error) error {
	if len(s.Spans) == 0 {
		return nil
	}
	want := maps.Clone(s.Spans)
	offsets := make(map[int32]kgo.Offset, len(want))
	for p, sp := range want {
		offsets[p] = kgo.NewOffset().At(sp.Start)
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{s.Topic: offsets})
	defer cl.RemoveConsumePartitions(map[string][]int32{s.Topic: partitions(s.Spans)})
	for len(want) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: %w", s.Topic, err)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			return fmt.Errorf("read %s partition %d: %w", errs[0].Topic, errs[0].Partition, errs[0].Err)
		}
		var ferr error
		fetches.EachRecord(func(r *kgo.Record) {
			sp, reading := want[r.Partition]
			if ferr != nil || !reading || r.Topic != s.Topic || r.Offset >= sp.End {
				return // past the snapshot: the next one's business
			}
			if ferr = fn(r); ferr != nil {
				return
			}
			if r.Offset >= sp.End-1 {
				delete(want, r.Partition)
			}
		})
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// ReadSnapshot takes a snapshot of topic (from: see TakeSnapshot) and reads
// it with cl.
func ReadSnapshot(ctx context.Context, cl *kgo.Client, topic string, from map[int32]int64, fn func(*kgo.Record) error) error {
	s, err := TakeSnapshot(ctx, kadm.NewClient(cl), topic, from)
	if err != nil {
		return err
	}
	return s.Read(ctx, cl, fn)
}

func partitions(m map[int32]Span) []int32 {
	out := make([]int32, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	return out
}
