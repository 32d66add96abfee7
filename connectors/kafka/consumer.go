package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// RecordHandler processes one record. nil means its effect is durable and
// the record may be marked for commit; an error means "not done": the
// consumer backs off and hands the same record over again.
type RecordHandler func(ctx context.Context, r *kgo.Record) error

// GroupConfig configures a GroupConsumer.
type GroupConfig struct {
	Group  string
	Topics []string
	// DueAt, when set, returns the time before which a record must not be
	// handled (retry tiers). The partition is paused while its head waits.
	DueAt func(r *kgo.Record) time.Time
	// MaxPending records queued per partition before its fetching pauses.
	MaxPending int
	// SessionTimeout bounds how long a dead member keeps its partitions.
	SessionTimeout time.Duration
	// CommitInterval is how often marked offsets are committed (1s).
	CommitInterval time.Duration
	// BeforeCommit, when set, runs before every commit; an error skips that
	// commit. The processor flushes its outcome records here, so an offset
	// is never committed ahead of the analytics record of its outcome.
	BeforeCommit func(ctx context.Context) error
}

// GroupConsumer consumes a group with one worker goroutine per assigned
// partition: records of a partition are handled in order (per-entity order
// holds), partitions proceed independently, and a slow or held partition
// pauses only its own fetching. Offsets are marked only after the handler
// reports the effect durable and committed on revoke and on shutdown.
type GroupConsumer struct {
	cfg    GroupConfig
	cl     *kgo.Client
	handle RecordHandler
	log    *slog.Logger

	mu      sync.Mutex
	workers map[topicPartition]*partitionWorker
}

type topicPartition struct {
	topic     string
	partition int32
}

// NewGroupConsumer builds the consumer client.
func NewGroupConsumer(kcfg Config, role string, cfg GroupConfig, handle RecordHandler, log *slog.Logger, reg prometheus.Registerer) (*GroupConsumer, error) {
	if cfg.Group == "" || len(cfg.Topics) == 0 {
		return nil, errors.New("group consumer: group and topics are required")
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 1000
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = time.Second
	}
	c := &GroupConsumer{cfg: cfg, handle: handle, log: log.With("group", cfg.Group), workers: map[topicPartition]*partitionWorker{}}
	cl, err := NewClient(kcfg, role, log, reg, append(groupOpts(cfg.Group, cfg.SessionTimeout, cfg.Topics...),
		// Commit only what a worker marked, i.e. what is durably done. The
		// commits themselves are made by Run's committer (after
		// BeforeCommit), on revoke and on shutdown; the client's own
		// periodic autocommit is pushed out of the way.
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Hour),
		// Rebalances wait until the poll loop has handed records to the
		// workers, so revocation sees a consistent picture.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
	)...)
	if err != nil {
		return nil, err
	}
	c.cl = cl
	return c, nil
}

// Client exposes the client (for kadm lag checks and tests).
func (c *GroupConsumer) Client() *kgo.Client { return c.cl }

// Run polls until ctx ends, then stops the workers, commits what they
// marked and leaves the group.
func (c *GroupConsumer) Run(ctx context.Context) error {
	defer c.close()
	go c.commitLoop(ctx)
	for {
		fetches := c.cl.PollRecords(ctx, 1000)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				c.log.Warn("fetch error", "topic", t, "partition", p, "error", err)
			}
		})
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
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
func (c *GroupConsumer) commitLoop(ctx context.Context) {
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
func (c *GroupConsumer) commit(ctx context.Context) error {
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

func (c *GroupConsumer) close() {
	c.stopWorkers(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.commit(ctx); err != nil {
		c.log.Warn("final commit failed; the last records will be handled again", "error", err)
	}
	leaveGroup(c.cl)
}

func (c *GroupConsumer) worker(ctx context.Context, topic string, partition int32) *partitionWorker {
	c.mu.Lock()
	defer c.mu.Unlock()
	tp := topicPartition{topic, partition}
	if w, ok := c.workers[tp]; ok {
		return w
	}
	w := newPartitionWorker(ctx, c, tp)
	c.workers[tp] = w
	return w
}

func (c *GroupConsumer) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	c.log.Info("partitions assigned", "partitions", fmt.Sprint(assigned))
}

func (c *GroupConsumer) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	c.stopWorkers(revoked)
	if err := c.commit(ctx); err != nil {
		c.log.Warn("commit on revoke failed; the new owner handles those records again", "error", err)
	}
	c.log.Info("partitions revoked", "partitions", fmt.Sprint(revoked))
}

func (c *GroupConsumer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.stopWorkers(lost)
	c.log.Warn("partitions lost", "partitions", fmt.Sprint(lost))
}

// stopWorkers stops the workers of the given partitions (all when nil) and
// waits for each to finish the record in hand, so nothing it marks later
// belongs to a partition this member no longer owns.
func (c *GroupConsumer) stopWorkers(which map[string][]int32) {
	c.mu.Lock()
	var stop []*partitionWorker
	for tp, w := range c.workers {
		if which == nil || containsPartition(which[tp.topic], tp.partition) {
			stop = append(stop, w)
			delete(c.workers, tp)
		}
	}
	c.mu.Unlock()
	for _, w := range stop {
		w.cancel()
	}
	for _, w := range stop {
		<-w.done
		c.cl.ResumeFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
	}
}

func containsPartition(ps []int32, p int32) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}
