package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
)

// Consumer consumes a group with one worker goroutine per assigned
// partition (per-record and deferred policies) or one batching worker
// (per-batch policy). Records of a partition are handled in order,
// partitions proceed independently, and a slow or held partition pauses
// only its own fetching. Offsets are marked only once the handler reports
// the effect durable, and committed periodically, on revoke and on
// shutdown.
type Consumer struct {
	cfg Config
	cl  *kgo.Client
	// built is closed once New has set cl: the client joins the group as
	// soon as it exists, so the group callbacks can run before New returns
	// and must not read cl before then.
	built chan struct{}
	log   *slog.Logger

	mu      sync.Mutex
	runCtx  context.Context
	workers map[topicPartition]*worker
	batch   *batcher
}

type topicPartition struct {
	topic     string
	partition int32
}

// New builds the consumer and its group client; nothing is fetched before
// Run.
func New(kcfg kafka.Config, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Consumer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.HandleBatch != nil && (cfg.OnAssigned != nil || cfg.DueAt != nil) {
		return nil, errors.New("consumer: OnAssigned and DueAt apply to per-record, per-run and deferred policies only")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Consumer{cfg: cfg, log: log.With("group", cfg.Group), workers: map[topicPartition]*worker{}, built: make(chan struct{})}
	if cfg.HandleBatch != nil {
		c.batch = newBatcher(c)
	}
	cl, err := kafka.NewClient(kcfg, cfg.Role, log, reg, c.opts()...)
	if err != nil {
		return nil, err
	}
	c.cl = cl
	close(c.built)
	return c, nil
}

// opts are the group client's options, one reason each.
func (c *Consumer) opts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.ConsumeTopics(c.cfg.Topics...),
		// A new group starts at the beginning: records written before its
		// first member started are not skipped.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Commit only what a handler marked, i.e. what is durably done.
		// The commits are made by Run's committer (after BeforeCommit), on
		// revoke and on shutdown; the client's own periodic autocommit is
		// pushed out of the way.
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Hour),
		// Rebalances wait until the poll loop handed the polled records to
		// the workers, so revocation sees a consistent picture.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
		// A resumed partition is fetched by the next request; with an idle
		// group that comes FetchMaxWait after the one in flight.
		kgo.FetchMaxWait(c.cfg.FetchMaxWait),
	}
	if c.cfg.Balancer != nil {
		// The processor's range balancer co-partitions its topics.
		opts = append(opts, kgo.Balancers(c.cfg.Balancer))
	}
	if c.cfg.SessionTimeout > 0 {
		// A killed member's partitions move within this bound.
		opts = append(opts, kgo.SessionTimeout(c.cfg.SessionTimeout), kgo.HeartbeatInterval(c.cfg.SessionTimeout/10))
	}
	return append(opts, c.cfg.Opts...)
}

// Client exposes the client (for kadm lag checks and tests).
func (c *Consumer) Client() *kgo.Client { return c.cl }

// Run polls until ctx ends, then stops the workers (a batch in hand is
// flushed, bounded by DrainTimeout), commits what they marked and leaves the
// group. With CoPartitioned it first checks the topics' partition counts.
func (c *Consumer) Run(ctx context.Context) error {
	if c.cfg.CoPartitioned {
		if err := CheckCoPartitioned(ctx, kadm.NewClient(c.cl), c.cfg.Topics, c.cfg.CoPartitionedWith...); err != nil {
			c.cl.Close()
			return err
		}
	}
	c.mu.Lock()
	c.runCtx = ctx
	if c.batch != nil {
		c.batch.start(ctx)
	}
	c.mu.Unlock()
	defer c.close(ctx)
	go c.commitLoop(ctx)
	for {
		fetches := c.cl.PollRecords(ctx, 1000)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				c.log.Warn("fetch error", "topic", t, "partition", p, "error", err)
			}
		})
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			if c.batch != nil {
				c.batch.enqueue(p.Records)
				return
			}
			w := c.worker(ctx, p.Topic, p.Partition)
			if w.enqueue(p.Records) > c.cfg.MaxPending {
				w.pause(pauseBacklog)
			}
		})
		c.cl.AllowRebalance()
	}
}

// commitLoop commits what the workers marked, every CommitInterval.
func (c *Consumer) commitLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.commit(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("commit skipped; retried at the next tick", "error", err)
			}
		}
	}
}

// commit runs BeforeCommit, then commits the marked offsets.
func (c *Consumer) commit(ctx context.Context) error {
	if c.cfg.BeforeCommit != nil {
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.cfg.BeforeCommit(bctx)
		cancel()
		if err != nil {
			return fmt.Errorf("before commit: %w", err)
		}
	}
	return c.cl.CommitMarkedOffsets(ctx)
}

// close drains and commits after ctx (Run's) ended: the drain outlives its
// cancellation, bounded by DrainTimeout.
func (c *Consumer) close(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if c.batch != nil {
		c.batch.drain(ctx)
	} else {
		c.stopWorkers(ctx, nil)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DrainTimeout)
	defer cancel()
	if err := c.commit(ctx); err != nil {
		c.log.Warn("final commit failed; the last records will be handled again", "error", err)
	}
	// The last, cancelled poll still blocks rebalances, and Close's
	// LeaveGroup would wait for that block to be lifted forever.
	c.cl.AllowRebalance()
	c.cl.Close()
}

// worker returns the partition's worker, starting it if needed. The worker
// lives for Run's context; ctx (the caller's) stands in, without its
// cancellation, only before Run set it.
func (c *Consumer) worker(ctx context.Context, topic string, partition int32) *worker {
	c.mu.Lock()
	defer c.mu.Unlock()
	tp := topicPartition{topic, partition}
	if w, ok := c.workers[tp]; ok {
		return w
	}
	wctx := c.runCtx //nolint:contextcheck // by design: the worker outlives the caller (a rebalance callback) and ends with Run
	if wctx == nil {
		wctx = context.WithoutCancel(ctx)
	}
	w := newWorker(wctx, c, tp)
	c.workers[tp] = w
	return w
}

func (c *Consumer) assigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	<-c.built
	c.log.Info("partitions assigned", "partitions", fmt.Sprint(assigned))
	if c.batch != nil {
		return
	}
	// Start the workers now, so OnAssigned runs before the first record
	// of each partition is handled.
	for t, ps := range assigned {
		for _, p := range ps {
			c.worker(ctx, t, p)
		}
	}
}

func (c *Consumer) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	<-c.built
	if c.batch != nil {
		c.batch.revoke(revoked)
	} else {
		c.stopWorkers(ctx, revoked)
	}
	if err := c.commit(ctx); err != nil {
		c.log.Warn("commit on revoke failed; the new owner handles those records again", "error", err)
	}
	c.log.Info("partitions revoked", "partitions", fmt.Sprint(revoked))
}

func (c *Consumer) lost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	<-c.built
	if c.batch != nil {
		c.batch.revoke(lost)
	} else {
		c.stopWorkers(ctx, lost)
	}
	c.log.Warn("partitions lost", "partitions", fmt.Sprint(lost))
}

// stopWorkers stops the workers of the given partitions (all when nil),
// waits for each to finish the record in hand (its ctx cancelled), fences
// its Marker and runs OnRevoked, so nothing is marked later for a partition
// this member no longer owns.
func (c *Consumer) stopWorkers(ctx context.Context, which map[string][]int32) {
	c.mu.Lock()
	var stop []*worker
	for tp, w := range c.workers {
		if which == nil || slices.Contains(which[tp.topic], tp.partition) {
			stop = append(stop, w)
			delete(c.workers, tp)
		}
	}
	c.mu.Unlock()
	for _, w := range stop {
		w.cancel()
	}
	for _, w := range stop {
		w.stop()
		c.cl.ResumeFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
		if c.cfg.OnRevoked != nil {
			c.cfg.OnRevoked(ctx, w.tp.topic, w.tp.partition)
		}
	}
}
