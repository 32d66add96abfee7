package kafka

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Why a partition's fetching is paused; it resumes when no reason is left.
const (
	pauseBacklog = 1 << iota // too many records queued
	pauseDue                 // the head record is not due yet
)

// partitionWorker handles one partition's records in order.
type partitionWorker struct {
	c      *GroupConsumer
	tp     topicPartition
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	queue   []*kgo.Record
	wake    chan struct{}
	reasons int
}

func newPartitionWorker(parent context.Context, c *GroupConsumer, tp topicPartition) *partitionWorker {
	ctx, cancel := context.WithCancel(parent)
	w := &partitionWorker{c: c, tp: tp, ctx: ctx, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	go w.run()
	return w
}

// enqueue adds polled records and returns the queue length.
func (w *partitionWorker) enqueue(rs []*kgo.Record) int {
	w.mu.Lock()
	w.queue = append(w.queue, rs...)
	n := len(w.queue)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return n
}

func (w *partitionWorker) pause(reason int) {
	w.mu.Lock()
	first := w.reasons == 0
	w.reasons |= reason
	w.mu.Unlock()
	if first {
		w.c.cl.PauseFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
	}
}

func (w *partitionWorker) resume(reason int) {
	w.mu.Lock()
	was := w.reasons != 0
	w.reasons &^= reason
	now := w.reasons == 0
	w.mu.Unlock()
	if was && now {
		w.c.cl.ResumeFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
	}
}

func (w *partitionWorker) next() (*kgo.Record, bool) {
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			r := w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			low := len(w.queue) < w.c.cfg.MaxPending/4
			w.mu.Unlock()
			if low {
				w.resume(pauseBacklog)
			}
			return r, true
		}
		w.mu.Unlock()
		select {
		case <-w.ctx.Done():
			return nil, false
		case <-w.wake:
		}
	}
}

func (w *partitionWorker) run() {
	defer close(w.done)
	backoff := newBackoff(200*time.Millisecond, 30*time.Second)
	for {
		r, ok := w.next()
		if !ok {
			return
		}
		if !w.waitDue(r) {
			return
		}
		for {
			err := w.c.handle(w.ctx, r)
			if err == nil {
				w.c.cl.MarkCommitRecords(r)
				backoff.reset()
				break
			}
			if w.ctx.Err() != nil {
				return
			}
			d := backoff.next()
			w.c.log.Error("record not handled; will try again", "topic", r.Topic, "partition", r.Partition,
				"offset", r.Offset, "retry_in", d.String(), "error", err)
			if !sleepCtx(w.ctx, d) {
				return
			}
		}
	}
}

// waitDue holds a retry-tier record until it is due, with the partition's
// fetching paused meanwhile: the poll loop never sleeps.
func (w *partitionWorker) waitDue(r *kgo.Record) bool {
	if w.c.cfg.DueAt == nil {
		return true
	}
	wait := time.Until(w.c.cfg.DueAt(r))
	if wait <= 0 {
		return true
	}
	w.pause(pauseDue)
	defer w.resume(pauseDue)
	return sleepCtx(w.ctx, wait)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff doubles from min to max.
type backoff struct{ min, max, cur time.Duration }

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else if b.cur *= 2; b.cur > b.max {
		b.cur = b.max
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }
