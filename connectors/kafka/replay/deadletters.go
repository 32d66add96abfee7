package replay

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// DeadLetter is one record of the DLQ as an operator reads it: where it
// sits, the event it carries and why it died (its headers).
type DeadLetter struct {
	Partition       int32
	Offset          int64
	Event           pipeline.Event // the body byte for byte, id, type, entity id
	OriginalTopic   string
	Error           string
	Attempts        int
	FailedAt        time.Time
	SignatureScheme string
	ReplayedAt      string // set when the record was itself a replay that died again
}

// FromRecord reads a DLQ record. A record without a failed-at header counts
// as failed at its timestamp; one without an original topic gets the topic
// of its event kind.
func FromRecord(r *kgo.Record) DeadLetter {
	ev, _ := kafka.EventFromRecord(r)
	d := DeadLetter{
		Partition: r.Partition, Offset: r.Offset, Event: ev,
		OriginalTopic:   kafka.Header(r, schemas.HeaderOriginalTopic),
		Error:           kafka.Header(r, schemas.HeaderError),
		Attempts:        kafka.HeaderInt(r, schemas.HeaderAttempts, 0),
		SignatureScheme: kafka.Header(r, schemas.HeaderSignatureScheme),
		ReplayedAt:      kafka.Header(r, schemas.HeaderReplayedAt),
	}
	d.FailedAt, _ = time.Parse(time.RFC3339Nano, kafka.Header(r, schemas.HeaderFailedAt))
	if d.FailedAt.IsZero() {
		d.FailedAt = r.Timestamp
	}
	if d.OriginalTopic == "" {
		if t, err := schemas.TopicForKind(string(ev.Kind)); err == nil {
			d.OriginalTopic = t
		}
	}
	return d
}

// Facts is what a ReplayFilter looks at.
func (d DeadLetter) Facts() pipeline.DeadLetterFacts {
	return pipeline.DeadLetterFacts{EventType: d.Event.Type, EventID: d.Event.ID, Error: d.Error, Attempts: d.Attempts, FailedAt: d.FailedAt}
}

// Listing is the dead letters matching a filter, newest first.
type Listing struct {
	Total   int64        // records in the DLQ now (offsets spanned)
	Matched int          // dead letters that pass the filter
	Letters []DeadLetter // the newest Matched, at most the limit asked for
}

// List reads the whole DLQ as it is now with cl (a client that consumes
// nothing else) and returns the dead letters passing f, newest first, at
// most limit of them (0 = all), and the count of all of them. It is the
// console's view and the same filter a replay applies, so a dry run counts
// what the list shows. Only the newest limit matches are held while the
// DLQ is read (and their bodies copied out of the fetch buffers); a caller
// that needs every match streams over them with Each instead.
func List(ctx context.Context, cl *kgo.Client, f pipeline.ReplayFilter, limit int) (Listing, error) {
	var out Listing
	keep := Newest[DeadLetter]{Limit: limit, At: func(d DeadLetter) time.Time { return d.FailedAt },
		Keep: func(d DeadLetter) DeadLetter { d.Event = detach(d.Event); return d }}
	total, err := Each(ctx, cl, f, func(d DeadLetter) error {
		out.Matched++
		keep.Add(d)
		return nil
	})
	out.Total = total
	if err != nil {
		return out, err
	}
	out.Letters = keep.Sorted()
	return out, nil
}

// Each reads the whole DLQ as it is now with cl (a client that consumes
// nothing else) and calls fn with every dead letter passing f, in the order
// read (offset order within a partition), holding none of them: fn must
// copy what it keeps (Event.Body and Event.Data point into the fetched
// batch). It returns the records in the DLQ (offsets spanned); an error
// from fn stops the read and is returned.
func Each(ctx context.Context, cl *kgo.Client, f pipeline.ReplayFilter, fn func(DeadLetter) error) (int64, error) {
	snap, err := consume.TakeSnapshot(ctx, kadm.NewClient(cl), schemas.TopicDLQ, nil)
	if err != nil {
		return 0, fmt.Errorf("dead letters: %w", err)
	}
	total := snap.Records()
	var fnErr error
	err = snap.Read(ctx, cl, func(r *kgo.Record) error {
		d := FromRecord(r)
		if !f.MatchDeadLetter(d.Facts()) {
			return nil
		}
		if err := fn(d); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	if fnErr != nil {
		return total, fnErr
	}
	if err != nil {
		return total, fmt.Errorf("dead letters: %w", err)
	}
	return total, nil
}

// detach copies the body and data of ev so that keeping it does not keep
// the whole fetched batch they were read from.
func detach(ev pipeline.Event) pipeline.Event {
	ev.Body = bytes.Clone(ev.Body)
	ev.Data = bytes.Clone(ev.Data)
	return ev
}

// ReadAt reads the one record at topic/partition/offset with cl (a client
// that consumes nothing else): the console shows an event's body from the
// record its analytics rows point at. It fails when the offset is no longer
// (or not yet) in the log.
func ReadAt(ctx context.Context, cl *kgo.Client, topic string, partition int32, offset int64) (*kgo.Record, error) {
	adm := kadm.NewClient(cl)
	snap, err := consume.TakeSnapshot(ctx, adm, topic, map[int32]int64{partition: offset})
	if err != nil {
		return nil, err
	}
	sp, ok := snap.Spans[partition]
	if !ok || sp.Start != offset {
		return nil, fmt.Errorf("%s/%d@%d is not in the log (retention may have removed it)", topic, partition, offset)
	}
	snap.Spans = map[int32]consume.Span{partition: {Start: offset, End: offset + 1}}
	var got *kgo.Record
	if err := snap.Read(ctx, cl, func(r *kgo.Record) error { got = r; return nil }); err != nil {
		return nil, err
	}
	if got == nil {
		return nil, fmt.Errorf("%s/%d@%d: no record", topic, partition, offset)
	}
	return got, nil
}
