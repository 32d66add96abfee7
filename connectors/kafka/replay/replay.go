// Package replay puts dead letters back into the flow (`shopstream replay`
// and the console's dead-letter page share it).
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
	// Stateless reads the whole DLQ and commits nothing (Group is unused):
	// the console replays a selection without moving the position of the
	// command line's group. Within one stateless run an event id is
	// replayed once, however many times it was dead-lettered; a failed
	// produce is counted in Failed and the run goes on.
	Stateless bool
	// Skip, when set, is asked about every matching dead letter; true
	// passes it over and counts it in Delivered (the console skips events
	// that were already delivered unless the operator forces them).
	Skip func(pipeline.Event) bool
	// Progress, when set, is called after every record.
	Progress func(Progress)
}

// Progress counts a run.
type Progress struct {
	Total     int64 // dead letters pending for this group when the run started
	Seen      int64
	Replayed  int64 // produced back (or, in a dry run, would be)
	Skipped   int64 // filtered out (and, stateless, repeats of an event id already replayed)
	Delivered int64 // matched but passed over by Config.Skip
	Failed    int64 // stateless only: the produce failed or the record has no original topic
}

// ClientOptions are the options of a client that replays: every produce
// acknowledged by all in-sync replicas, murmur2 partitioning like the
// ingress, no linger (one record at a time).
func ClientOptions() []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(0),
	}
}

// Replay reads the DLQ from the group's committed position up to its end at
// the start of the run and produces each matching record back to its
// original topic: same key (so murmur2 puts it in the same partition), the
// original body byte for byte, and the event id and type headers so the
// processor's idempotency still holds. The attempt count starts over.
// Offsets are committed after each acknowledged produce.
func Replay(ctx context.Context, kcfg kafka.Config, cfg Config, log *slog.Logger) (Progress, error) {
	cl, err := kafka.NewClient(kcfg, "replay", log, nil, ClientOptions()...)
	if err != nil {
		return Progress{}, err
	}
	defer cl.Close()
	return Run(ctx, cl, cfg)
}

// Run is Replay with a client made with ClientOptions that consumes nothing
// else (it is used to read the DLQ).
func Run(ctx context.Context, cl *kgo.Client, cfg Config) (Progress, error) {
	var prog Progress
	adm := kadm.NewClient(cl)
	from := map[int32]int64{}
	if !cfg.Stateless {
		committed, err := adm.FetchOffsets(ctx, cfg.Group)
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) { // kfake: a group that never committed
			return prog, fmt.Errorf("replay: offsets of group %s: %w", cfg.Group, err)
		}
		committed.Each(func(o kadm.OffsetResponse) {
			if o.Topic == schemas.TopicDLQ && o.Err == nil && o.At >= 0 {
				from[o.Partition] = o.At
			}
		})
	}
	snap, err := consume.TakeSnapshot(ctx, adm, schemas.TopicDLQ, from)
	if err != nil {
		return prog, fmt.Errorf("replay: %w", err)
	}
	prog.Total = snap.Records()
	var limiter *rate.Limiter
	if cfg.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
	}
	r := runner{cl: cl, adm: adm, cfg: cfg, limiter: limiter, prog: &prog, done: map[string]bool{}}
	err = snap.Read(ctx, cl, func(rec *kgo.Record) error {
		if err := r.one(ctx, rec); err != nil {
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

type runner struct {
	cl      *kgo.Client
	adm     *kadm.Client
	cfg     Config
	limiter *rate.Limiter
	prog    *Progress
	done    map[string]bool // stateless: event ids replayed in this run
}

// verdict is what a run does with one dead letter.
type verdict int

const (
	replayIt  verdict = iota
	skipIt            // filtered out, or (stateless) an event id already replayed
	delivered         // Config.Skip passed it over
	noTopic           // no original topic it could go back to
)

// decide is the one place a run (and a Tally) judges a dead letter.
func decide(cfg Config, dl DeadLetter, done map[string]bool) verdict {
	if !cfg.Filter.MatchDeadLetter(dl.Facts()) || (cfg.Stateless && done[dl.Event.ID]) {
		return skipIt
	}
	if cfg.Skip != nil && cfg.Skip(dl.Event) {
		return delivered
	}
	if t := dl.OriginalTopic; t == "" || schemas.IsRetryTopic(t) || t == schemas.TopicDLQ {
		return noTopic
	}
	return replayIt
}

// Tally is a stateless dry run over dead letters already read (the
// console's index): given every dead letter of the DLQ in read order, it
// counts what Run with Stateless and DryRun counts.
type Tally struct {
	cfg  Config
	prog Progress
	done map[string]bool
}

// NewTally starts a tally of cfg (its Stateless and DryRun are implied)
// over a DLQ spanning total offsets.
func NewTally(cfg Config, total int64) *Tally {
	cfg.Stateless, cfg.DryRun = true, true
	return &Tally{cfg: cfg, prog: Progress{Total: total}, done: map[string]bool{}}
}

// Add counts one dead letter (its Error as recorded: the filter reads it).
func (t *Tally) Add(dl DeadLetter) {
	t.prog.Seen++
	switch decide(t.cfg, dl, t.done) {
	case skipIt:
		t.prog.Skipped++
	case delivered:
		t.prog.Delivered++
	case noTopic:
		t.prog.Failed++
	case replayIt:
		t.done[dl.Event.ID] = true
		t.prog.Replayed++
	}
	if t.cfg.Progress != nil {
		t.cfg.Progress(t.prog)
	}
}

// Progress is the tally so far.
func (t *Tally) Progress() Progress { return t.prog }

func (r *runner) one(ctx context.Context, rec *kgo.Record) error {
	cfg, prog := r.cfg, r.prog
	prog.Seen++
	dl := FromRecord(rec)
	switch decide(cfg, dl, r.done) {
	case skipIt:
		prog.Skipped++
		return r.commit(ctx, rec)
	case delivered:
		prog.Delivered++
		return r.commit(ctx, rec)
	case noTopic:
		err := fmt.Errorf("replay: %s/%d@%d has no original topic and is not a webhook", rec.Topic, rec.Partition, rec.Offset)
		if cfg.Stateless {
			prog.Failed++
			return nil
		}
		return err
	case replayIt:
	}
	topic := dl.OriginalTopic
	if !cfg.DryRun {
		if r.limiter != nil {
			if err := r.limiter.Wait(ctx); err != nil {
				return err
			}
		}
		if err := Produce(ctx, r.cl, topic, dl.Event, dl.SignatureScheme); err != nil {
			if cfg.Stateless && ctx.Err() == nil {
				prog.Failed++
				return nil
			}
			return err
		}
	}
	r.done[dl.Event.ID] = true
	prog.Replayed++
	return r.commit(ctx, rec)
}

// Produce puts ev back on topic as the ingress wrote it, stamped with
// shopstream-replayed-at, and waits for the broker's acknowledgement.
func Produce(ctx context.Context, cl *kgo.Client, topic string, ev pipeline.Event, scheme string) error {
	out := kafka.EventRecord(topic, ev, scheme)
	kafka.SetHeader(out, schemas.HeaderReplayedAt, kafka.FormatTime(time.Now()))
	if err := cl.ProduceSync(ctx, out).FirstErr(); err != nil {
		return fmt.Errorf("replay: produce %s to %s: %w", ev.ID, topic, err)
	}
	return nil
}

// commit stores the group's position past rec. Replay reads without joining
// the group, so the commit is a plain offset commit of an empty group.
func (r *runner) commit(ctx context.Context, rec *kgo.Record) error {
	if r.cfg.DryRun || r.cfg.Stateless {
		return nil
	}
	if err := r.adm.CommitAllOffsets(ctx, r.cfg.Group, kadm.OffsetsFromRecords(*rec)); err != nil {
		return fmt.Errorf("replay: commit %s/%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	return nil
}
