package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// ReplayConfig configures one replay run.
type ReplayConfig struct {
	Group  string // its own consumer group: a second run resumes, never replays twice
	Filter pipeline.ReplayFilter
	DryRun bool    // report what would be replayed; produce and commit nothing
	Rate   float64 // records per second; 0 = unlimited
	// Progress, when set, is called after every record.
	Progress func(ReplayProgress)
}

// ReplayProgress counts a run.
type ReplayProgress struct {
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
func Replay(ctx context.Context, kcfg Config, cfg ReplayConfig, log *slog.Logger) (ReplayProgress, error) {
	var prog ReplayProgress
	cl, err := NewClient(kcfg, "replay", log, nil, append(groupOpts(cfg.Group, 0, schemas.TopicDLQ),
		kgo.DisableAutoCommit(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(0),
	)...)
	if err != nil {
		return prog, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, schemas.TopicDLQ)
	if err != nil {
		return prog, fmt.Errorf("replay: end offsets of %s: %w", schemas.TopicDLQ, err)
	}
	committed, err := adm.FetchOffsets(ctx, cfg.Group)
	if err != nil {
		return prog, fmt.Errorf("replay: offsets of group %s: %w", cfg.Group, err)
	}
	remaining := map[int32]int64{} // partition -> end offset still to reach
	ends.Each(func(o kadm.ListedOffset) {
		start := int64(0)
		if c, ok := committed.Lookup(schemas.TopicDLQ, o.Partition); ok && c.At >= 0 {
			start = c.At
		}
		if o.Offset > start {
			remaining[o.Partition] = o.Offset
			prog.Total += o.Offset - start
		}
	})
	if len(remaining) == 0 {
		return prog, nil
	}
	var limiter *rate.Limiter
	if cfg.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
	}
	for len(remaining) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return prog, ctx.Err()
		}
		if err := fetches.Err0(); err != nil && !errors.Is(err, context.Canceled) {
			return prog, fmt.Errorf("replay: fetch: %w", err)
		}
		var iterErr error
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := remaining[r.Partition]
			if iterErr != nil || !ok || r.Offset >= end {
				return
			}
			if iterErr = replayOne(ctx, cl, r, cfg, limiter, &prog); iterErr != nil {
				return
			}
			if r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			if cfg.Progress != nil {
				cfg.Progress(prog)
			}
		})
		if iterErr != nil {
			return prog, iterErr
		}
	}
	return prog, nil
}

func replayOne(ctx context.Context, cl *kgo.Client, r *kgo.Record, cfg ReplayConfig, limiter *rate.Limiter, prog *ReplayProgress) error {
	prog.Seen++
	failedAt, _ := time.Parse(time.RFC3339Nano, Header(r, schemas.HeaderFailedAt))
	if failedAt.IsZero() {
		failedAt = r.Timestamp
	}
	ev, _ := EventFromRecord(r)
	if !cfg.Filter.Match(ev.Type, ev.ID, failedAt) {
		prog.Skipped++
		return commit(ctx, cl, r, cfg.DryRun)
	}
	topic := Header(r, schemas.HeaderOriginalTopic)
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
		out := EventRecord(topic, ev, Header(r, schemas.HeaderSignatureScheme))
		SetHeader(out, schemas.HeaderReplayedAt, FormatTime(time.Now()))
		if err := cl.ProduceSync(ctx, out).FirstErr(); err != nil {
			return fmt.Errorf("replay: produce %s to %s: %w", ev.ID, topic, err)
		}
	}
	prog.Replayed++
	return commit(ctx, cl, r, cfg.DryRun)
}

func commit(ctx context.Context, cl *kgo.Client, r *kgo.Record, dryRun bool) error {
	if dryRun {
		return nil
	}
	if err := cl.CommitRecords(ctx, r); err != nil {
		return fmt.Errorf("replay: commit %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	return nil
}
