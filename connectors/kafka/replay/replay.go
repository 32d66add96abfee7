// Package replay puts dead letters back into the flow (`shopstream replay`).
package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// Config configures one replay run.
type Config struct {
	Group  string // its own consumer group: a second run resumes, never replays twice
	Filter pipeline.ReplayFilter
	DryRun bool    // report what would be replayed; produce and commit nothing
	Rate   float64 // records per second; 0 = unlimited
	// Progress, when set, is called after every record.
	Progress func(Progress)
}

// Progress counts a run.
type Progress struct {
	Total    int64 // dead letters pending for this group when the run started
	Seen     int64
	Replayed int64
	Skipped  int64 // filtered out
}

// Replay reads the DLQ from the group's committed position up to its end at
// the start of the run and produces each matching record back to its
// original topic: same key (so murmur2 puts it in the same partition), the
// original body byte for byte, and the event id and type headers so the
// processor's idempotency still holds. The attempt count starts over.
// Offsets are committed after each acknowledged produce.
func Replay(ctx context.Context, kcfg kafka.Config, cfg Config, log *slog.Logger) (Progress, error) {
	var prog Progress
	cl, err := kafka.NewClient(kcfg, "replay", log, nil,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		return prog, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	committed, err := adm.FetchOffsets(ctx, cfg.Group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) { // kfake: a group that never committed
		return prog, fmt.Errorf("replay: offsets of group %s: %w", cfg.Group, err)
	}
	from := map[int32]int64{}
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Topic == schemas.TopicDLQ && o.Err == nil && o.At >= 0 {
			from[o.Partition] = o.At
		}
	})
	snap, err := consume.TakeSnapshot(ctx, adm, schemas.TopicDLQ, from)
	if err != nil {
		return prog, fmt.Errorf("replay: %w", err)
	}
	prog.Total = snap.Records()
	var limiter *rate.Limiter
	if cfg.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
	}
	err = snap.Read(ctx, cl, func(r *kgo.Record) error {
		if err := replayOne(ctx, cl, adm, r, cfg, limiter, &prog); err != nil {
			return err
		}
		if cfg.Progress != nil {
			cfg.Progress(prog)
		}
		return nil
	})
	if err != nil && ctx.Err() != nil {
		return prog, ctx.Err()
	}
	return prog, err
}

func replayOne(ctx context.Context, cl *kgo.Client, adm *kadm.Client, r *kgo.Record, cfg Config, limiter *rate.Limiter, prog *Progress) error {
	prog.Seen++
	failedAt, _ := time.Parse(time.RFC3339Nano, kafka.Header(r, schemas.HeaderFailedAt))
	if failedAt.IsZero() {
		failedAt = r.Timestamp
	}
	ev, _ := kafka.EventFromRecord(r)
	if !cfg.Filter.Match(ev.Type, ev.ID, failedAt) {
		prog.Skipped++
		return commit(ctx, adm, cfg.Group, r, cfg.DryRun)
	}
	topic := kafka.Header(r, schemas.HeaderOriginalTopic)
	if topic == "" {
		if t, err := schemas.TopicForKind(string(ev.Kind)); err == nil {
			topic = t
		}
	}
	if topic == "" || schemas.IsRetryTopic(topic) || topic == schemas.TopicDLQ {
		return fmt.Errorf("replay: %s/%d@%d has no original topic and is not a webhook", r.Topic, r.Partition, r.Offset)
	}
	if !cfg.DryRun {
		if limiter != nil {
			if err := limiter.Wait(ctx); err != nil {
				return err
			}
		}
		out := kafka.EventRecord(topic, ev, kafka.Header(r, schemas.HeaderSignatureScheme))
		kafka.SetHeader(out, schemas.HeaderReplayedAt, kafka.FormatTime(time.Now()))
		if err := cl.ProduceSync(ctx, out).FirstErr(); err != nil {
			return fmt.Errorf("replay: produce %s to %s: %w", ev.ID, topic, err)
		}
	}
	prog.Replayed++
	return commit(ctx, adm, cfg.Group, r, cfg.DryRun)
}

// commit stores the group's position past r. Replay reads without joining
// the group, so the commit is a plain offset commit of an empty group.
func commit(ctx context.Context, adm *kadm.Client, group string, r *kgo.Record, dryRun bool) error {
	if dryRun {
		return nil
	}
	if err := adm.CommitAllOffsets(ctx, group, kadm.OffsetsFromRecords(*r)); err != nil {
		return fmt.Errorf("replay: commit %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	return nil
}
