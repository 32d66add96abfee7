package catalog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/pipeline"
	"github.com/shopstream/shopstream/schemas"
)

// owner is the sync of one partition of the sync topic, for as long as this
// member owns it.
type owner struct {
	t         *Trigger
	partition int32
	deb       *pipeline.Debouncer
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}

	mu       sync.Mutex
	marker   consume.Marker
	next     int64 // first offset not finished; -1 before the first mark
	end      int64 // one past the last offset taken
	failures int   // consecutive failed syncs of the current marks
}

func newOwner(ctx context.Context, t *Trigger, partition int32) *owner {
	o := &owner{t: t, partition: partition, next: -1, done: make(chan struct{})}
	o.ctx, o.cancel = context.WithCancel(ctx)
	o.deb = pipeline.NewDebouncer(pipeline.DebouncerConfig{
		Quiet: t.cfg.Quiet, MaxWait: t.cfg.MaxWait, Now: t.cfg.Now,
		OnError: func(err error, attempt int) {
			if attempt == 0 {
				t.log.Debug("processor progress not known; waiting", "error", err)
				return
			}
			t.log.Warn("catalog sync failed; retrying", "attempt", attempt, "error", err)
		},
	}, o, o.sync)
	return o
}

func (o *owner) run() {
	defer close(o.done)
	_ = o.deb.Run(o.ctx)
}

func (o *owner) stop() {
	o.cancel()
	<-o.done
	o.t.metrics.pending.Set(0)
}

// take joins a mark to the window, timed by when the ingress accepted its
// event.
func (o *owner) take(r *kgo.Record, m consume.Marker) {
	o.mu.Lock()
	o.marker = m
	if o.next < 0 {
		o.next = r.Offset // the committed offset: where this owner starts
	}
	o.end = r.Offset + 1
	o.t.metrics.pending.Set(float64(o.end - o.next))
	o.mu.Unlock()
	accepted := r.Timestamp
	if ts := kafka.Header(r, schemas.HeaderReceivedAt); ts != "" {
		if at, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			accepted = at
		}
	}
	o.deb.Mark(accepted)
}

// CaughtUp implements pipeline.IngestProgress: the processor group's lag
// on the product topics is zero (its committed offsets reached the end
// offsets read first) and this owner has taken every mark written before
// that was checked.
func (o *owner) CaughtUp(ctx context.Context) (bool, error) {
	lags, err := o.t.lag.Measure(ctx)
	if err != nil {
		return false, err
	}
	for _, lag := range lags[o.t.cfg.Processors] {
		if lag > 0 {
			return false, nil
		}
	}
	topic := o.t.cfg.SyncTopic
	ends, err := o.t.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return false, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	end, ok := ends.Lookup(topic, o.partition)
	if !ok {
		return false, fmt.Errorf("end offsets of %s: no partition %d", topic, o.partition)
	}
	o.mu.Lock()
	taken := o.end
	o.mu.Unlock()
	return taken >= end.Offset, nil
}

// sync is the debouncer's action: one regeneration covering every mark
// taken before it started.
func (o *owner) sync(ctx context.Context, req pipeline.CatalogSyncRequest) error {
	o.mu.Lock()
	from, to := o.next, o.end
	o.mu.Unlock()
	if from < 0 || from >= to {
		return nil
	}
	start := o.t.cfg.Now()
	sctx, cancel := context.WithTimeout(ctx, o.t.cfg.SyncTimeout)
	defer cancel()
	res, err := o.t.syncer.Sync(sctx)
	o.t.metrics.duration.Observe(o.t.cfg.Now().Sub(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		o.t.metrics.syncs.WithLabelValues("failed").Inc()
		o.mu.Lock()
		o.failures++
		o.mu.Unlock()
		if !pipeline.IsPermanent(err) {
			return err // an outage: retried with backoff for as long as it lasts
		}
		// A permanent failure is dead-lettered at once, as the retry
		// policy does with events: retrying cannot fix it.
		o.t.log.Error("catalog sync failed permanently; dead-lettering the events it covers", "marks", to-from, "error", err)
		return o.finish(ctx, from, to, pipeline.StatusDead, err, start)
	}
	result := "uploaded"
	if res.Skipped {
		result = "unchanged"
	}
	o.t.metrics.syncs.WithLabelValues(result).Inc()
	o.t.metrics.coalesced.Observe(float64(to - from))
	o.t.log.Info("catalog synced", "rows", res.Rows, "hash", res.Hash, "uploaded", res.Uploaded,
		"unchanged", res.Skipped, "events_coalesced", to-from, "forced", req.Forced,
		"duration_ms", o.t.cfg.Now().Sub(start).Milliseconds())
	return o.finish(ctx, from, to, pipeline.StatusCompleted, nil, start)
}

// finish reads the marks [from, to) again from the sync topic, records each
// event's outcome (and dead-letters it if the sync gave up), marks them for
// commit and commits.
func (o *owner) finish(ctx context.Context, from, to int64, status pipeline.Status, cause error, start time.Time) error {
	o.mu.Lock()
	m, failures := o.marker, o.failures
	o.mu.Unlock()
	if status == pipeline.StatusCompleted {
		failures++ // this attempt
	}
	end := o.t.cfg.Now()
	var last *kgo.Record
	// Two copies of one event in the product topic (the store re-sent a
	// webhook a crashed serve had accepted but not answered) are two
	// marks: the first records the sync's outcome, every later one
	// "duplicate", as the processor does for messages — within these
	// marks and against the events this trigger completed recently.
	ids := map[string]bool{}
	err := o.t.readMarks(ctx, o.partition, from, to, func(r *kgo.Record) error {
		d, _ := kafka.DeliveryFromRecord(r)
		d.Attempt = failures
		st, why := status, cause
		if ids[d.Event.ID] || o.t.completed.Seen(d.Event.ID) {
			st, why = pipeline.StatusDuplicate, nil
		}
		ids[d.Event.ID] = true
		if st == pipeline.StatusDead {
			if err := o.t.dlq.DeadLetter(ctx, d, fmt.Errorf("catalog sync: %w", cause)); err != nil {
				return err
			}
		}
		// The outcome names the product event's own record.
		d.Topic, d.Partition, d.Offset = d.Origin.Topic, d.Origin.Partition, d.Origin.Offset
		if o.t.rec != nil {
			o.t.rec.Record(outcomeOf(d, st, why, start, end))
		}
		last = r
		return nil
	})
	if err != nil {
		return fmt.Errorf("catalog sync: read back marks %d..%d: %w", from, to, err)
	}
	if last == nil {
		return nil
	}
	// A Marker of a revoked partition refuses: the next owner re-reads
	// these marks from the committed offset and syncs again.
	if !m.Mark(last) {
		return nil
	}
	if status == pipeline.StatusCompleted {
		// Not dead letters: an operator's replay of one must be applied.
		for id := range ids {
			o.t.completed.Add(id)
		}
	}
	o.mu.Lock()
	o.next, o.failures = to, 0
	o.t.metrics.pending.Set(float64(o.end - o.next))
	o.mu.Unlock()
	if err := m.Commit(ctx); err != nil && !errors.Is(err, context.Canceled) {
		o.t.log.Warn("commit after sync failed; a later commit covers it", "error", err)
	}
	return nil
}
