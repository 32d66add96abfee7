package consume

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// RecordHandler handles one record (per-record policy). nil means its effect
// is durable and the record is marked; an error means "not done": the worker
// backs off and hands the same record over again. ctx is cancelled when the
// partition is revoked or lost, or the consumer stops.
type RecordHandler func(ctx context.Context, r *kgo.Record) error

// BatchHandler handles a batch (per-batch policy). nil marks every record of
// the batch; an error hands the same batch over again after a backoff. A
// batch may hold records of several partitions, each partition's in order.
type BatchHandler func(ctx context.Context, rs []*kgo.Record) error

// RunHandler handles a run of one partition's consecutive records, in
// offset order (per-run policy): the partition's worker hands over the head
// record with the records queued behind it that are due, at most RunSize.
// nil means every record's effect is durable and the run is marked; an
// error means rs[:handled] are done (they are marked) and the rest is
// handed over again after a backoff. It lets a handler make one durable
// write for many records (the processor's order claims) where the
// per-record policy makes one each.
type RunHandler func(ctx context.Context, rs []*kgo.Record) (handled int, err error)

// DeferredHandler takes a record without marking it (deferred policy). nil
// means "taken"; the handler marks it later through m, once its effect is
// durable. An error hands the same record over again after a backoff.
type DeferredHandler func(ctx context.Context, r *kgo.Record, m Marker) error

// Marker marks records of one partition for commit, for as long as this
// member owns it. It is safe for concurrent use.
type Marker interface {
	// Mark marks rs for the next commit. It reports false, and marks
	// nothing, once the partition's worker stopped (revoked, lost or shut
	// down): the new owner re-reads those records from the committed offset.
	Mark(rs ...*kgo.Record) bool
	// Commit runs BeforeCommit and commits everything marked so far.
	Commit(ctx context.Context) error
}

// Config configures a Consumer. Exactly one of Handle, HandleRun,
// HandleBatch and HandleDeferred is set.
type Config struct {
	// Group and Topics are the consumer group and what it reads.
	Group  string
	Topics []string
	// Role names the client ("processor-consumer"); see kafka.NewClient.
	Role string

	Handle         RecordHandler
	HandleRun      RunHandler
	HandleBatch    BatchHandler
	HandleDeferred DeferredHandler

	// Balancer is the group balancer; nil keeps franz-go's default
	// (cooperative-sticky). The processor uses kgo.RangeBalancer() so that
	// partition p of every topic it reads lands on one member.
	Balancer kgo.GroupBalancer
	// CoPartitioned makes Run refuse to start unless every topic has the
	// same number of partitions (see CheckCoPartitioned).
	CoPartitioned bool
	// CoPartitionedWith are topics the group does not consume but whose
	// partition p is aligned with partition p of Topics (the processor's
	// order progress store). With CoPartitioned, Run also refuses to start
	// when one of them is missing or has another partition count.
	CoPartitionedWith []string

	// DueAt, when set, returns the time before which a record must not be
	// handled (retry tiers). The partition is paused while its head waits.
	DueAt func(r *kgo.Record) time.Time
	// MaxHold caps one due-time hold: no head record blocks its partition
	// longer than this (0: no cap).
	MaxHold time.Duration
	// MaxPending records queued per partition before its fetching pauses
	// (1000; for batches at least 2 x BatchSize).
	MaxPending int
	// BatchSize and FlushInterval size batches (per-batch policy): a batch
	// is handed over at BatchSize records or FlushInterval after its first
	// record arrived (10,000 and 1 s).
	BatchSize     int
	FlushInterval time.Duration
	// RunSize caps the records of one HandleRun call (256).
	RunSize int

	// SessionTimeout bounds how long a dead member keeps its partitions
	// (0: franz-go's default).
	SessionTimeout time.Duration
	// CommitInterval is how often marked offsets are committed (1 s).
	CommitInterval time.Duration
	// DrainTimeout bounds the final batch flush and the final commit on
	// shutdown (10 s).
	DrainTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts of a failed
	// handler (200 ms, 30 s).
	RetryMin, RetryMax time.Duration

	// BeforeCommit, when set, runs before every commit; an error skips that
	// commit. The processor flushes its outcome records here, so an offset
	// is never committed ahead of the analytics record of its outcome.
	BeforeCommit func(ctx context.Context) error
	// OnAssigned, when set, runs for each assigned partition BEFORE its
	// worker handles a record (load partition-aligned state), in that
	// worker's goroutine with its ctx (cancelled on revoke). Until it
	// succeeds the partition is paused; a failure is logged and retried
	// with backoff for as long as the partition stays assigned. Per-record,
	// per-run and deferred policies only.
	OnAssigned func(ctx context.Context, topic string, partition int32) error
	// OnRevoked, when set, runs for each revoked or lost partition (and for
	// every partition on shutdown) after its worker stopped and its Marker
	// was fenced, before the revoke's commit. Per-record, per-run and
	// deferred policies only.
	OnRevoked func(ctx context.Context, topic string, partition int32)

	// FetchMaxWait is how long a fetch waits for new records (500 ms). A
	// paused partition that resumes (OnAssigned done, a hold released, a
	// backlog drained) is only fetched by the next fetch request, after the
	// one in flight returns: on an idle group this wait is the resume
	// latency (franz-go's default, 5 s, added seconds to every hold).
	FetchMaxWait time.Duration

	// Opts are extra client options.
	Opts []kgo.Opt
}

// DefaultFetchMaxWait is Config.FetchMaxWait's default: a resumed partition
// waits at most this long for its first fetch, and an idle member sends
// about two fetch requests a second per broker.
const DefaultFetchMaxWait = 500 * time.Millisecond

func (c *Config) defaults() error {
	n := 0
	for _, set := range []bool{c.Handle != nil, c.HandleRun != nil, c.HandleBatch != nil, c.HandleDeferred != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("consumer: set exactly one of Handle, HandleRun, HandleBatch, HandleDeferred")
	}
	if c.Group == "" || len(c.Topics) == 0 {
		return errors.New("consumer: group and topics are required")
	}
	if c.Role == "" {
		c.Role = c.Group
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 10_000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.RunSize <= 0 {
		c.RunSize = 256
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 1000
	}
	if c.HandleBatch != nil && c.MaxPending < 2*c.BatchSize {
		c.MaxPending = 2 * c.BatchSize
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.FetchMaxWait <= 0 {
		c.FetchMaxWait = DefaultFetchMaxWait
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 200 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 30 * time.Second
	}
	return nil
}
