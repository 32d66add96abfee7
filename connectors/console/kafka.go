package console

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/replay"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// KafkaDeadLetters is DeadLetters over the broker, through the replay
// package (the code path of `shopstream replay`). Each call uses a client
// of its own: reading a snapshot assigns partitions to the client, so two
// requests must not share one. With an Index, List and Each answer from
// it (it reads only what was appended since the last page load), and so
// does a dry run; Letter and Replay read the records themselves, as
// `shopstream replay` does.
type KafkaDeadLetters struct {
	Config kafka.Config
	Log    *slog.Logger
	Rate   float64 // replay records per second; 0 = unlimited
	Index  *DeadLetterIndex
}

// WithIndex returns k listing from a DeadLetterIndex of at most maxEntries
// dead letters (0: DefaultIndexEntries).
func (k KafkaDeadLetters) WithIndex(maxEntries int) KafkaDeadLetters {
	k.Index = NewDeadLetterIndex(k.client, maxEntries, k.Log)
	return k
}

// Warm builds the index, if there is one (the console's start).
func (k KafkaDeadLetters) Warm(ctx context.Context) error {
	if k.Index == nil {
		return nil
	}
	return k.Index.Warm(ctx)
}

func (k KafkaDeadLetters) client() (*kgo.Client, error) {
	return kafka.NewClient(k.Config, "console", k.Log, nil, replay.ClientOptions()...)
}

// List reads the DLQ (through the index when there is one: its letters
// then carry no body and an Error already masked).
func (k KafkaDeadLetters) List(ctx context.Context, f pipeline.ReplayFilter, limit int) (replay.Listing, error) {
	if k.Index != nil {
		return k.Index.List(ctx, f, limit)
	}
	cl, err := k.client()
	if err != nil {
		return replay.Listing{}, err
	}
	defer cl.Close()
	return replay.List(ctx, cl, f, limit)
}

// Each streams over the DLQ (through the index when there is one: the
// letters then carry no body).
func (k KafkaDeadLetters) Each(ctx context.Context, f pipeline.ReplayFilter, fn func(replay.DeadLetter) error) error {
	if k.Index != nil {
		return k.Index.Each(ctx, f, fn)
	}
	cl, err := k.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = replay.Each(ctx, cl, f, fn)
	return err
}

// Letter reads one dead letter.
func (k KafkaDeadLetters) Letter(ctx context.Context, partition int32, offset int64) (replay.DeadLetter, error) {
	cl, err := k.client()
	if err != nil {
		return replay.DeadLetter{}, err
	}
	defer cl.Close()
	r, err := replay.ReadAt(ctx, cl, schemas.TopicDLQ, partition, offset)
	if err != nil {
		return replay.DeadLetter{}, err
	}
	return replay.FromRecord(r), nil
}

// Replay runs a stateless replay. A dry run with an index counts from it
// (replay.Tally, the decisions of replay.Run); a replay reads the records.
func (k KafkaDeadLetters) Replay(ctx context.Context, f pipeline.ReplayFilter, dryRun bool, skip func(pipeline.Event) bool) (replay.Progress, error) {
	if dryRun && k.Index != nil {
		return k.Index.DryRun(ctx, replay.Config{Filter: f, Skip: skip})
	}
	cl, err := k.client()
	if err != nil {
		return replay.Progress{}, err
	}
	defer cl.Close()
	return replay.Run(ctx, cl, replay.Config{Filter: f, DryRun: dryRun, Stateless: true, Skip: skip, Rate: k.Rate})
}

// Record reads an accepted record.
func (k KafkaDeadLetters) Record(ctx context.Context, topic string, partition int32, offset int64) (Source, error) {
	cl, err := k.client()
	if err != nil {
		return Source{}, err
	}
	defer cl.Close()
	r, err := replay.ReadAt(ctx, cl, topic, partition, offset)
	if err != nil {
		return Source{}, err
	}
	ev, _ := kafka.EventFromRecord(r) // a body that does not parse is still shown
	return Source{Topic: topic, Partition: partition, Offset: offset, Event: ev, SignatureScheme: kafka.Header(r, schemas.HeaderSignatureScheme)}, nil
}

// Resend produces the event back on its topic.
func (k KafkaDeadLetters) Resend(ctx context.Context, src Source) error {
	cl, err := k.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	return replay.Produce(ctx, cl, src.Topic, src.Event, src.SignatureScheme)
}
