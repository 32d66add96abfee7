package consume

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/internal/clock"
)

// batcher is the per-batch policy's one worker. It gathers the records of
// every assigned partition (each partition's in order) and hands them over
// at BatchSize records or FlushInterval after the batch's first record. A
// batch stays at the head of the queue until its handler succeeded, so a
// worker restarted after a revoke carries on with the same records.
type batcher struct {
	c    *Consumer
	wake chan struct{}

	mu          sync.Mutex
	queue       []*kgo.Record
	firstAt     time.Time // when the head batch's first record arrived
	paused      bool
	cancel      context.CancelFunc
	done        chan struct{}
	interrupted bool // the last handler call was cut off by shutdown
}

func newBatcher(c *Consumer) *batcher {
	return &batcher{c: c, wake: make(chan struct{}, 1)}
}

// start runs a worker under parent; the caller holds no lock of b.
func (b *batcher) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan struct{})
	b.mu.Lock()
	b.cancel, b.done = cancel, done
	b.mu.Unlock()
	go b.run(ctx, done)
}

// stop cancels the running worker and waits for it.
func (b *batcher) stop() {
	b.mu.Lock()
	cancel, done := b.cancel, b.done
	b.cancel, b.done = nil, nil
	b.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (b *batcher) enqueue(rs []*kgo.Record) {
	b.mu.Lock()
	if len(b.queue) == 0 {
		b.firstAt = time.Now()
	}
	b.queue = append(b.queue, rs...)
	pause := !b.paused && len(b.queue) > b.c.cfg.MaxPending
	if pause {
		b.paused = true
	}
	b.mu.Unlock()
	if pause {
		b.c.cl.PauseFetchTopics(b.c.cfg.Topics...)
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// revoke stops the worker (an in-flight batch is cut off and not marked),
// drops the queued records of the partitions in which and restarts the
// worker on the rest.
func (b *batcher) revoke(which map[string][]int32) {
	b.stop()
	b.mu.Lock()
	b.queue = slices.DeleteFunc(b.queue, func(r *kgo.Record) bool { return slices.Contains(which[r.Topic], r.Partition) })
	b.firstAt = time.Now()
	b.mu.Unlock()
	b.resumeIfLow()
	b.c.mu.Lock()
	ctx := b.c.runCtx
	b.c.mu.Unlock()
	if ctx != nil && ctx.Err() == nil {
		b.start(ctx)
	}
}

func (b *batcher) resumeIfLow() {
	b.mu.Lock()
	resume := b.paused && len(b.queue) < b.c.cfg.BatchSize
	if resume {
		b.paused = false
	}
	b.mu.Unlock()
	if resume {
		b.c.cl.ResumeFetchTopics(b.c.cfg.Topics...)
	}
}

// next waits for a due batch: BatchSize records, or whatever is queued
// FlushInterval after its first record arrived.
func (b *batcher) next(ctx context.Context) ([]*kgo.Record, bool) {
	for {
		b.mu.Lock()
		n := len(b.queue)
		wait := time.Until(b.firstAt.Add(b.c.cfg.FlushInterval))
		if n >= b.c.cfg.BatchSize || (n > 0 && wait <= 0) {
			batch := slices.Clone(b.queue[:min(n, b.c.cfg.BatchSize)])
			b.mu.Unlock()
			return batch, true
		}
		b.mu.Unlock()
		var timer <-chan time.Time
		var t *time.Timer
		if n > 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case <-b.wake:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil, false
		}
	}
}

// handled marks a handled batch and takes it off the queue.
func (b *batcher) handled(batch []*kgo.Record) {
	b.c.cl.MarkCommitRecords(batch...)
	b.mu.Lock()
	b.queue = b.queue[len(batch):]
	b.firstAt = time.Now()
	b.mu.Unlock()
	b.resumeIfLow()
}

func (b *batcher) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	backoff := clock.NewBackoff(b.c.cfg.RetryMin, b.c.cfg.RetryMax)
	for {
		batch, ok := b.next(ctx)
		if !ok {
			return
		}
		backoff.Reset()
		for {
			err := b.c.cfg.HandleBatch(ctx, batch)
			if err == nil {
				b.handled(batch)
				break
			}
			if ctx.Err() != nil {
				b.mu.Lock()
				b.interrupted = true
				b.mu.Unlock()
				return
			}
			d := backoff.Next()
			b.c.log.Error("batch not handled; will try again", "records", len(batch), "retry_in", d.String(), "error", err)
			if clock.Sleep(ctx, d) != nil {
				return
			}
		}
	}
}

// drain stops the worker and, unless shutdown cut a handler call off (the
// handler was failing), hands what is queued over once more, bounded by
// DrainTimeout; what is not handled stays uncommitted for the next run.
func (b *batcher) drain(ctx context.Context) {
	b.stop()
	b.mu.Lock()
	interrupted := b.interrupted
	b.mu.Unlock()
	if interrupted {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, b.c.cfg.DrainTimeout)
	defer cancel()
	for {
		b.mu.Lock()
		n := min(len(b.queue), b.c.cfg.BatchSize)
		batch := slices.Clone(b.queue[:n])
		b.mu.Unlock()
		if n == 0 {
			return
		}
		if err := b.c.cfg.HandleBatch(ctx, batch); err != nil {
			b.c.log.Warn("batch not handled before shutdown; left for the next run", "records", n, "error", err)
			return
		}
		b.handled(batch)
	}
}
