package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/shopstream/shopstream/connectors/kafka"
	"github.com/shopstream/shopstream/connectors/kafka/consume"
	"github.com/shopstream/shopstream/internal/clock"
	"github.com/shopstream/shopstream/pipeline"
)

// versions is the version of every product in the state partitions this
// process writes, so that State.Apply never replaces a product's state with
// an older one. Compaction keeps the LAST record of a key, not the newest
// version, so the check must happen before the write: a DLQ replay of an old
// product event would otherwise win for good once the cleaner ran.
//
// The processor that owns evershop.product partition p also owns partition
// p of the state topic (same key, same murmur2 hash, same partition count:
// co-partitioning, docs/contract.md), so nobody else writes that partition while it owns it:
// it loads the partition at its first write (under the partition's lock, so
// the product worker and the retry tiers' workers of p load it once) and
// forgets it when the product partition is revoked or lost
// (State.OnRevoked), since the next owner writes it from then on. Memory is
// one entry per product of the owned partitions.
//
// The load is lazy rather than in the runtime's OnAssigned hook: a partition
// paused while its hook runs is fetched again only after the fetch in flight
// returns (up to the fetch max wait, 5 s), a stall on every assignment that
// the first write does not need.
//
// No generic partition-aligned store loader existed when this was written
// (the order ledger's was being built at the same time); load is the small
// one the catalog needs.
type versions struct {
	mu    sync.Mutex
	n     int                          // partitions of the state topic, 0 until known
	parts map[int32]*partitionVersions // loaded partitions
	locks map[int32]*sync.Mutex        // one writer at a time per partition
}

type partitionVersions struct {
	byID map[string]pipeline.ProductVersion
}

// recordVersion reads the version a state record carries. ok is false for
// a record without one (a bare tombstone or a value written before versions
// existed, or one that does not decode): such a record replaces the key's
// state whatever it held, by offset, as compaction will; its zero version
// is then superseded by any versioned write.
func recordVersion(r *kgo.Record) (v pipeline.ProductVersion, ok bool) {
	var w struct {
		UpdatedAt  string `json:"updated_at"`
		ReceivedAt string `json:"received_at"`
	}
	if r.Value == nil || json.Unmarshal(r.Value, &w) != nil || w.UpdatedAt == "" {
		return v, false
	}
	var err1, err2 error
	v.UpdatedAt, err1 = time.Parse(time.RFC3339Nano, w.UpdatedAt)
	v.ReceivedAt, err2 = time.Parse(time.RFC3339Nano, w.ReceivedAt)
	if err1 != nil || err2 != nil {
		return pipeline.ProductVersion{}, false
	}
	return pipeline.ProductVersion{UpdatedAt: v.UpdatedAt.UTC(), ReceivedAt: v.ReceivedAt.UTC()}, true
}

// OnRevoked forgets a revoked product partition's versions: its next owner
// writes that state partition from now on.
func (s *State) OnRevoked(_ context.Context, topic string, p int32) {
	if topic != s.source {
		return
	}
	lock := s.partitionLock(p)
	lock.Lock()
	defer lock.Unlock()
	s.vers.mu.Lock()
	delete(s.vers.parts, p)
	s.vers.mu.Unlock()
}

func (s *State) partitionLock(p int32) *sync.Mutex {
	s.vers.mu.Lock()
	defer s.vers.mu.Unlock()
	if s.vers.locks == nil {
		s.vers.locks = map[int32]*sync.Mutex{}
	}
	l, ok := s.vers.locks[p]
	if !ok {
		l = &sync.Mutex{}
		s.vers.locks[p] = l
	}
	return l
}

// load reads partition p of the state topic up to its end offset now and
// keeps the newest version of each key. The caller holds p's lock.
func (s *State) load(ctx context.Context, p int32) error {
	start := time.Now()
	cl, err := kafka.NewClient(s.readCfg, "catalog-state-loader", s.log, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	snap, err := consume.TakeSnapshot(ctx, kadm.NewClient(cl), s.topic, nil)
	if err != nil {
		return fmt.Errorf("load partition %d: %w", p, err)
	}
	only := consume.Snapshot{Topic: s.topic, Spans: map[int32]consume.Span{}}
	if sp, ok := snap.Spans[p]; ok {
		only.Spans[p] = sp
	}
	got := &partitionVersions{byID: map[string]pipeline.ProductVersion{}}
	if err := only.Read(ctx, cl, func(r *kgo.Record) error {
		v, versioned := recordVersion(r)
		if cur, ok := got.byID[string(r.Key)]; !ok || !versioned || v.Supersedes(cur) {
			got.byID[string(r.Key)] = v
		}
		return nil
	}); err != nil {
		return fmt.Errorf("load partition %d: %w", p, err)
	}
	s.vers.mu.Lock()
	if s.vers.parts == nil {
		s.vers.parts = map[int32]*partitionVersions{}
	}
	s.vers.parts[p] = got
	s.vers.mu.Unlock()
	s.log.Debug("catalog state partition loaded", "partition", p, "products", len(got.byID), "duration", time.Since(start))
	return nil
}

// partitionOf is the state partition of product id, as the producer's
// murmur2 partitioner picks it.
func (s *State) partitionOf(ctx context.Context, id string) (int32, error) {
	s.vers.mu.Lock()
	n := s.vers.n
	s.vers.mu.Unlock()
	if n == 0 {
		var err error
		if n, err = s.partitionCount(ctx); err != nil {
			return 0, err
		}
		s.vers.mu.Lock()
		s.vers.n = n
		s.vers.mu.Unlock()
	}
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic(s.topic).Partition(&kgo.Record{Key: []byte(id)}, n)), nil
}

// partitionCount reads the state topic's partition count. A topic that was
// just created may be missing from a broker's metadata for a moment
// (UNKNOWN_TOPIC_OR_PARTITION, or no partitions yet): those retriable
// answers are asked again for up to metadataWait; others fail at once.
func (s *State) partitionCount(ctx context.Context) (int, error) {
	var n int
	var permanent error
	err := clock.Poll(ctx, 100*time.Millisecond, metadataWait, func(ctx context.Context) error {
		topics, err := kadm.NewClient(s.cl).ListTopics(ctx, s.topic)
		if err == nil {
			err = topics.Error()
		}
		if err == nil {
			if n = len(topics[s.topic].Partitions); n == 0 {
				err = errNoPartitions
			}
		}
		if err != nil && !errors.Is(err, errNoPartitions) && !kerr.IsRetriable(err) {
			permanent = err
			return nil
		}
		return err
	})
	if err == nil {
		err = permanent
	}
	if err != nil {
		return 0, fmt.Errorf("partitions of %s: %w", s.topic, err)
	}
	return n, nil
}

// metadataWait bounds how long partitionCount waits for a topic to appear.
const metadataWait = 10 * time.Second

var errNoPartitions = errors.New("no partitions")

// admit decides whether a write of id at version v may go ahead: not if the
// state partition holds a newer version. It returns with the partition's
// lock held (release it with unlock once the write is done or given up),
// so that the check and the write are one step for the product worker and
// the retry tiers' workers of the same partition. cur is the version held.
func (s *State) admit(ctx context.Context, id string, v pipeline.ProductVersion) (unlock func(), ok bool, cur pipeline.ProductVersion, err error) {
	p, err := s.partitionOf(ctx, id)
	if err != nil {
		return func() {}, false, cur, err
	}
	lock := s.partitionLock(p)
	lock.Lock()
	s.vers.mu.Lock()
	part := s.vers.parts[p]
	s.vers.mu.Unlock()
	if part == nil {
		if err := s.load(ctx, p); err != nil {
			lock.Unlock()
			return func() {}, false, cur, err
		}
		s.vers.mu.Lock()
		part = s.vers.parts[p]
		s.vers.mu.Unlock()
	}
	cur, known := part.byID[id]
	return lock.Unlock, !known || v.Supersedes(cur), cur, nil
}

// written records that id is at version v; the caller holds the lock admit
// took.
func (s *State) written(id string, v pipeline.ProductVersion) {
	s.vers.mu.Lock()
	defer s.vers.mu.Unlock()
	p := int32(kgo.StickyKeyPartitioner(nil).ForTopic(s.topic).Partition(&kgo.Record{Key: []byte(id)}, s.vers.n))
	if part := s.vers.parts[p]; part != nil {
		part.byID[id] = v
	}
}
