package consume

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/internal/clock"
)

// Why a partition's fetching is paused; it resumes when no reason is left.
const (
	pauseBacklog = 1 << iota // too many records queued
	pauseDue                 // the head record is not due yet
	pauseLoading             // OnAssigned has not succeeded yet
)

// worker handles one partition's records in order. It is the Marker of the
// deferred policy.
type worker struct {
	c      *Consumer
	tp     topicPartition
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	mu      sync.Mutex
	queue   []*kgo.Record
	reasons int
	stopped bool // fenced: Mark refuses
}

func newWorker(parent context.Context, c *Consumer, tp topicPartition) *worker {
	ctx, cancel := context.WithCancel(parent)
	w := &worker{c: c, tp: tp, ctx: ctx, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	if c.cfg.OnAssigned != nil {
		w.pause(pauseLoading)
	}
	go w.run()
	return w
}

// enqueue adds polled records and returns the queue length.
func (w *worker) enqueue(rs []*kgo.Record) int {
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

func (w *worker) pause(reason int) {
	w.mu.Lock()
	first := w.reasons == 0
	w.reasons |= reason
	w.mu.Unlock()
	if first {
		w.c.cl.PauseFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
	}
}

func (w *worker) resume(reason int) {
	w.mu.Lock()
	was := w.reasons != 0
	w.reasons &^= reason
	now := w.reasons == 0
	w.mu.Unlock()
	if was && now {
		w.c.cl.ResumeFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
	}
}

// stop waits for run to return (its ctx must be cancelled) and fences Mark.
func (w *worker) stop() {
	<-w.done
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

// Mark implements Marker.
func (w *worker) Mark(rs ...*kgo.Record) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return false
	}
	w.c.cl.MarkCommitRecords(rs...)
	return true
}

// Commit implements Marker.
func (w *worker) Commit(ctx context.Context) error { return w.c.commit(ctx) }

func (w *worker) next() (*kgo.Record, bool) {
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

func (w *worker) run() {
	defer close(w.done)
	backoff := clock.NewBackoff(w.c.cfg.RetryMin, w.c.cfg.RetryMax)
	if !w.load(backoff) {
		return
	}
	for {
		r, ok := w.next()
		if !ok {
			return
		}
		if !w.waitDue(r) {
			return
		}
		backoff.Reset()
		if w.c.cfg.HandleRun != nil {
			if !w.handleRun(append([]*kgo.Record{r}, w.takeDue(w.c.cfg.RunSize-1)...), backoff) {
				return
			}
			continue
		}
		for {
			err := w.handle(r)
			if err == nil {
				break
			}
			if w.ctx.Err() != nil {
				return
			}
			d := backoff.Next()
			w.c.log.Error("record not handled; will try again", "topic", r.Topic, "partition", r.Partition,
				"offset", r.Offset, "retry_in", d.String(), "error", err)
			if clock.Sleep(w.ctx, d) != nil {
				return
			}
		}
	}
}

// takeDue takes up to n queued records from the head while they are due.
func (w *worker) takeDue(n int) []*kgo.Record {
	now := time.Now()
	w.mu.Lock()
	k := 0
	for k < min(n, len(w.queue)) && (w.c.cfg.DueAt == nil || !w.c.cfg.DueAt(w.queue[k]).After(now)) {
		k++
	}
	rs := make([]*kgo.Record, k)
	copy(rs, w.queue[:k])
	clear(w.queue[:k])
	w.queue = w.queue[k:]
	low := len(w.queue) < w.c.cfg.MaxPending/4
	w.mu.Unlock()
	if low {
		w.resume(pauseBacklog)
	}
	return rs
}

// handleRun hands rs to HandleRun until every record is handled, marking
// what the handler reports done; false means the partition went away.
func (w *worker) handleRun(rs []*kgo.Record, backoff *clock.Backoff) bool {
	for {
		n, err := w.c.cfg.HandleRun(w.ctx, rs)
		if err == nil {
			w.Mark(rs...)
			return true
		}
		n = max(0, min(n, len(rs)))
		if n > 0 {
			w.Mark(rs[:n]...)
			rs = rs[n:]
			backoff.Reset()
		}
		if len(rs) == 0 {
			// Every record handled, and an error besides (the handler's to
			// report; nothing is left to retry).
			w.c.log.Warn("run handled, with an error", "error", err)
			return true
		}
		if w.ctx.Err() != nil {
			return false
		}
		d := backoff.Next()
		w.c.log.Error("records not handled; will try again", "topic", rs[0].Topic, "partition", rs[0].Partition,
			"offset", rs[0].Offset, "records", len(rs), "retry_in", d.String(), "error", err)
		if clock.Sleep(w.ctx, d) != nil {
			return false
		}
	}
}

func (w *worker) handle(r *kgo.Record) error {
	if w.c.cfg.HandleDeferred != nil {
		return w.c.cfg.HandleDeferred(w.ctx, r, w)
	}
	if err := w.c.cfg.Handle(w.ctx, r); err != nil {
		return err
	}
	w.Mark(r)
	return nil
}

// load runs OnAssigned until it succeeds or the partition goes away.
func (w *worker) load(backoff *clock.Backoff) bool {
	hook := w.c.cfg.OnAssigned
	if hook == nil {
		return true
	}
	defer backoff.Reset()
	for {
		err := hook(w.ctx, w.tp.topic, w.tp.partition)
		if err == nil {
			w.resume(pauseLoading)
			return true
		}
		if w.ctx.Err() != nil {
			return false
		}
		d := backoff.Next()
		w.c.log.Error("partition not loaded; will try again", "topic", w.tp.topic, "partition", w.tp.partition,
			"retry_in", d.String(), "error", err)
		if clock.Sleep(w.ctx, d) != nil {
			return false
		}
	}
}

// waitDue holds a record until it is due (at most MaxHold), with the
// partition's fetching paused meanwhile: the poll loop never sleeps.
func (w *worker) waitDue(r *kgo.Record) bool {
	if w.c.cfg.DueAt == nil {
		return true
	}
	wait := time.Until(w.c.cfg.DueAt(r))
	if wait <= 0 {
		return true
	}
	if m := w.c.cfg.MaxHold; m > 0 && wait > m {
		wait = m
	}
	w.pause(pauseDue)
	defer w.resume(pauseDue)
	return clock.Sleep(w.ctx, wait) == nil
}
