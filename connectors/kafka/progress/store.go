// Package progress keeps small per-key state in a compacted Kafka topic whose
// partitions are aligned with a consumed topic's (same partition count, same
// key hash): the member that owns partition p of the consumed topics loads
// partition p of the state topic into memory before its worker starts
// (OnAssigned), writes it synchronously, and drops it on revoke. The order
// ledger (ledger.go) is built on it.
package progress

import (
	"bytes"
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
	"github.com/shopstream/shopstream/connectors/kafka/consume"
)

// ErrNotLoaded is returned for a key whose partition this member has not
// loaded (not assigned, still loading, or revoked): the caller cannot decide
// durably and must try again later.
var ErrNotLoaded = errors.New("progress partition not loaded by this member")

// ErrOverridden is returned by Put when, reading back what someone else
// wrote to the partition meanwhile, the key's merged value is not the one
// written (Config.Merge kept another): the caller must decide again over
// Get's value.
var ErrOverridden = errors.New("progress value overridden by a newer one written by someone else")

// Config configures a Store.
type Config struct {
	// Topic is the compacted state topic.
	Topic string
	// Aligned are the consumed topics whose partition p needs partition p
	// of Topic (OnAssigned and OnRevoked ignore every other topic).
	Aligned []string
	// Merge, when set, folds a record read while loading into the key's
	// current value (old is nil for the first); nil keeps the last record.
	// A nil value (tombstone) deletes the key before Merge is asked.
	Merge func(key string, old, next []byte) []byte
	// Role names the clients ("processor-progress").
	Role string
}

// Store is a partition-aligned, in-memory view of a compacted topic.
// Memory: one entry per key of the loaded partitions (key, value and about
// 100 bytes of map and slice overhead); see Ledger for the order ledger's
// figure.
type Store struct {
	cfg  Config
	kcfg kafka.Config
	cl   *kgo.Client // writer: acks=all, explicit partitions
	log  *slog.Logger
	part kgo.TopicPartitioner

	mu    sync.Mutex
	n     int32 // partitions of Topic, 0 until known
	parts map[int32]*partition
}

// partition is one loaded (or loading) partition of the state topic.
type partition struct {
	holders map[string]bool // aligned topics whose partition p is assigned
	loaded  chan struct{}   // closed when the load ended (see err)
	err     error
	// mu guards vals; writes to one key are serialised by the caller.
	mu   sync.RWMutex
	vals map[string][]byte
	// next is the offset this member expects its next write to get; a
	// write acknowledged at a later offset means someone else wrote the
	// partition meanwhile (a member that lost it but still writes).
	next int64
	// writing serialises this member's writes to the partition, so that
	// next is exact (a few ms per claim on one partition; partitions write
	// in parallel).
	writing chan struct{}
}

// New builds the store and its writing client; nothing is read before
// OnAssigned.
func New(kcfg kafka.Config, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	if cfg.Topic == "" || len(cfg.Aligned) == 0 {
		return nil, errors.New("progress store: topic and aligned topics are required")
	}
	if cfg.Role == "" {
		cfg.Role = "progress"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cl, err := kafka.NewClient(kcfg, cfg.Role, log, reg,
		// Every write waits for all in-sync replicas: a claim is durable
		// before the caller acts on it.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// The record goes to the partition the store computed (the one
		// this member loaded), never one a partitioner picks.
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// Callers wait for the ack; lingering only adds latency.
		kgo.ProducerLinger(0),
		kgo.UnknownTopicRetries(3),
	)
	if err != nil {
		return nil, err
	}
	return &Store{cfg: cfg, kcfg: kcfg, cl: cl, log: log.With("store", cfg.Topic),
		// murmur2 over the key, the hash every shopstream producer (and
		// Kafka's Java client) uses: key k of the aligned topics is in
		// partition Partition(k) of this topic too.
		part:  kgo.StickyKeyPartitioner(nil).ForTopic(cfg.Topic),
		parts: map[int32]*partition{}}, nil
}

// Close closes the writing client.
func (s *Store) Close() { s.cl.Close() }

// Topic is the state topic.
func (s *Store) Topic() string { return s.cfg.Topic }

// partitions returns the state topic's partition count, asking the broker
// the first time.
func (s *Store) partitions(ctx context.Context) (int32, error) {
	s.mu.Lock()
	n := s.n
	s.mu.Unlock()
	if n > 0 {
		return n, nil
	}
	td, err := kadm.NewClient(s.cl).ListTopics(ctx, s.cfg.Topic)
	if err != nil {
		return 0, fmt.Errorf("describe %s: %w", s.cfg.Topic, err)
	}
	d, ok := td[s.cfg.Topic]
	if !ok || d.Err != nil || len(d.Partitions) == 0 {
		return 0, fmt.Errorf("describe %s: topic not available (run `shopstream topics`): %v", s.cfg.Topic, d.Err)
	}
	s.mu.Lock()
	s.n = int32(len(d.Partitions))
	n = s.n
	s.mu.Unlock()
	return n, nil
}

// Partition is the partition of the state topic (and of every aligned
// topic) that holds key; ok is false until the partition count is known
// (after the first OnAssigned).
func (s *Store) Partition(key string) (p int32, ok bool) {
	s.mu.Lock()
	n := s.n
	s.mu.Unlock()
	if n == 0 {
		return 0, false
	}
	return int32(s.part.Partition(&kgo.Record{Key: []byte(key)}, int(n))), true
}

// OnAssigned is the consumer's hook: for an aligned topic it loads
// partition p of the state topic up to its end offset, or waits for a load
// already under way for another aligned topic's partition p. It returns an
// error (the runtime retries it) if the load failed.
func (s *Store) OnAssigned(ctx context.Context, topic string, p int32) error {
	if !slices.Contains(s.cfg.Aligned, topic) {
		return nil
	}
	n, err := s.partitions(ctx)
	if err != nil {
		return err
	}
	if p >= n {
		return fmt.Errorf("%s has %d partitions, %s partition %d has no aligned state (run `shopstream topics`)", s.cfg.Topic, n, topic, p)
	}
	s.mu.Lock()
	pt := s.parts[p]
	if pt == nil || (isClosed(pt.loaded) && pt.err != nil) {
		holders := map[string]bool{}
		if pt != nil {
			holders = pt.holders
		}
		pt = &partition{holders: holders, loaded: make(chan struct{}), writing: make(chan struct{}, 1)}
		s.parts[p] = pt
		go s.load(context.WithoutCancel(ctx), p, pt) //nolint:contextcheck // shared by every aligned topic's worker; bounded by loadTimeout
	}
	pt.holders[topic] = true
	s.mu.Unlock()
	select {
	case <-pt.loaded:
		return pt.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loadTimeout bounds one load; a failed load is retried by the runtime.
const loadTimeout = 2 * time.Minute

// load reads partition p from its start to the end offset it had when the
// load began. The member owns p of every aligned topic and nobody else
// writes p, so nothing written later is missed.
func (s *Store) load(ctx context.Context, p int32, pt *partition) {
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	start := time.Now()
	vals := map[string][]byte{}
	next, err := s.read(ctx, p, func(r *kgo.Record) {
		k := string(r.Key)
		s.apply(vals, k, r.Value)
	})
	pt.mu.Lock()
	pt.vals, pt.next, pt.err = vals, next, err
	pt.mu.Unlock()
	if err != nil {
		s.log.Warn("progress partition not loaded; retried", "partition", p, "error", err)
	} else {
		s.log.Info("progress partition loaded", "partition", p, "keys", len(vals), "end_offset", next, "took", time.Since(start).String())
	}
	close(pt.loaded)
}

// apply folds one record into vals.
func (s *Store) apply(vals map[string][]byte, k string, v []byte) {
	switch {
	case v == nil:
		delete(vals, k)
	case s.cfg.Merge != nil:
		vals[k] = s.cfg.Merge(k, vals[k], v)
	default:
		vals[k] = v
	}
}

// read consumes partition p up to its current end offset with a short-lived
// direct client and returns that end offset.
func (s *Store) read(ctx context.Context, p int32, fn func(*kgo.Record)) (int64, error) {
	adm := kadm.NewClient(s.cl)
	ends, err := adm.ListEndOffsets(ctx, s.cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("end offsets of %s: %w", s.cfg.Topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, s.cfg.Topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("start offsets of %s: %w", s.cfg.Topic, err)
	}
	end, ok := ends.Lookup(s.cfg.Topic, p)
	if !ok {
		return 0, fmt.Errorf("end offset of %s partition %d: not listed", s.cfg.Topic, p)
	}
	first := int64(0)
	if st, ok := starts.Lookup(s.cfg.Topic, p); ok {
		first = st.Offset
	}
	if err := s.readRange(ctx, p, first, end.Offset, fn); err != nil {
		return 0, err
	}
	return end.Offset, nil
}

// readRange consumes offsets [from, to) of partition p with a short-lived
// direct client.
func (s *Store) readRange(ctx context.Context, p int32, from, to int64, fn func(*kgo.Record)) error {
	if from >= to {
		return nil
	}
	cl, err := kafka.NewClient(s.kcfg, s.cfg.Role+"-reader", s.log, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	snap := consume.Snapshot{Topic: s.cfg.Topic, Spans: map[int32]consume.Span{p: {Start: from, End: to}}}
	return snap.Read(ctx, cl, func(r *kgo.Record) error { fn(r); return nil })
}

// OnRevoked is the consumer's hook: once no aligned topic's partition p is
// assigned any more, partition p's state is dropped.
func (s *Store) OnRevoked(_ context.Context, topic string, p int32) {
	if !slices.Contains(s.cfg.Aligned, topic) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pt := s.parts[p]
	if pt == nil {
		return
	}
	delete(pt.holders, topic)
	if len(pt.holders) == 0 {
		delete(s.parts, p)
	}
}

// loaded returns key's partition, loaded.
func (s *Store) loaded(key string) (int32, *partition, error) {
	p, ok := s.Partition(key)
	if !ok {
		return 0, nil, fmt.Errorf("key %q: %w", key, ErrNotLoaded)
	}
	s.mu.Lock()
	pt := s.parts[p]
	s.mu.Unlock()
	if pt == nil || !isClosed(pt.loaded) || pt.err != nil {
		return p, nil, fmt.Errorf("key %q (partition %d): %w", key, p, ErrNotLoaded)
	}
	return p, pt, nil
}

// Get returns key's value (ok false: none). It fails with ErrNotLoaded
// unless key's partition is loaded.
func (s *Store) Get(key string) (value []byte, ok bool, err error) {
	_, pt, err := s.loaded(key)
	if err != nil {
		return nil, false, err
	}
	pt.mu.RLock()
	defer pt.mu.RUnlock()
	v, ok := pt.vals[key]
	return v, ok, nil
}

// Put writes key's value into its partition and waits for the broker's
// acknowledgement (acks=all) before it updates memory and returns. It
// fails with ErrNotLoaded unless key's partition is loaded; callers
// serialise Puts of one key, the store serialises a partition's. A Put
// given up on (ctx done) may still be written later; memory keeps the old
// value. When the acknowledged offset shows that someone else wrote the
// partition since it was loaded, Put reads their records back and folds
// them in first; ErrOverridden then says the merged value is not this one.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	p, pt, err := s.loaded(key)
	if err != nil {
		return err
	}
	select {
	case pt.writing <- struct{}{}:
		defer func() { <-pt.writing }()
	case <-ctx.Done():
		return fmt.Errorf("write %s to %s/%d: %w", key, s.cfg.Topic, p, ctx.Err())
	}
	type result struct {
		off int64
		err error
	}
	done := make(chan result, 1)
	s.cl.Produce(ctx, &kgo.Record{Topic: s.cfg.Topic, Partition: p, Key: []byte(key), Value: value}, func(r *kgo.Record, err error) {
		done <- result{r.Offset, err}
	})
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		// franz-go checks a buffered record's context only between
		// attempts; the caller must not wait for a broker that is down.
		return fmt.Errorf("write %s to %s/%d: %w", key, s.cfg.Topic, p, ctx.Err())
	}
	if res.err != nil {
		return fmt.Errorf("write %s to %s/%d: %w", key, s.cfg.Topic, p, res.err)
	}
	pt.mu.Lock()
	expected := pt.next
	pt.mu.Unlock()
	var gap []*kgo.Record
	if res.off > expected {
		// Someone else wrote the partition since this member loaded it (a
		// member that lost it and does not know yet, or a write given up
		// on that landed late): read what they wrote and fold it in before
		// this write, as a reload would.
		s.log.Warn("progress partition written by someone else since this member loaded it; reading it back",
			"partition", p, "expected_offset", expected, "offset", res.off)
		if err := s.readRange(ctx, p, expected, res.off, func(r *kgo.Record) { gap = append(gap, r) }); err != nil {
			return fmt.Errorf("write %s to %s/%d: read back foreign writes: %w", key, s.cfg.Topic, p, err)
		}
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for _, r := range gap {
		s.apply(pt.vals, string(r.Key), r.Value)
	}
	s.apply(pt.vals, key, value)
	pt.next = max(pt.next, res.off+1)
	if !bytes.Equal(pt.vals[key], value) {
		return fmt.Errorf("write %s to %s/%d: %w", key, s.cfg.Topic, p, ErrOverridden)
	}
	return nil
}

// KV is one value to write with PutBatch.
type KV struct {
	Key   string
	Value []byte
}

// PutBatch is Put for several keys, in one produce per partition: every
// record is written (acks=all) and acknowledged before memory is updated
// and it returns. Keys must be distinct. It fails with ErrNotLoaded, and
// writes nothing, unless every key's partition is loaded. ErrOverridden
// (wrapped) says that for at least one key the merged value is not the one
// written: the caller decides again over Get's values.
func (s *Store) PutBatch(ctx context.Context, kvs []KV) error {
	type part struct {
		p    int32
		pt   *partition
		recs []*kgo.Record
	}
	byPart := map[int32]*part{}
	var order []int32
	for _, kv := range kvs {
		p, pt, err := s.loaded(kv.Key)
		if err != nil {
			return err
		}
		if byPart[p] == nil {
			byPart[p] = &part{p: p, pt: pt}
			order = append(order, p)
		}
		byPart[p].recs = append(byPart[p].recs, &kgo.Record{Topic: s.cfg.Topic, Partition: p, Key: []byte(kv.Key), Value: kv.Value})
	}
	// Partitions in order, so two batches never wait for each other's
	// partition locks crosswise.
	slices.Sort(order)
	for _, p := range order {
		pt := byPart[p].pt
		select {
		case pt.writing <- struct{}{}:
			defer func() { <-pt.writing }()
		case <-ctx.Done():
			return fmt.Errorf("write %d keys to %s/%d: %w", len(byPart[p].recs), s.cfg.Topic, p, ctx.Err())
		}
	}
	var all []*kgo.Record
	for _, p := range order {
		all = append(all, byPart[p].recs...)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(all))
	done := make(chan struct{})
	for i, r := range all {
		wg.Add(1)
		s.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			errs[i] = err
			wg.Done()
		})
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// As in Put: a buffered record's context is only checked between
		// attempts; do not wait for a broker that is down.
		return fmt.Errorf("write %d keys to %s: %w", len(all), s.cfg.Topic, ctx.Err())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("write %d keys to %s: %w", len(all), s.cfg.Topic, err)
	}
	overridden := false
	for _, p := range order {
		ok, err := s.applyWritten(ctx, p, byPart[p].pt, byPart[p].recs)
		if err != nil {
			return err
		}
		overridden = overridden || !ok
	}
	if overridden {
		return fmt.Errorf("write %d keys to %s: %w", len(all), s.cfg.Topic, ErrOverridden)
	}
	return nil
}

// applyWritten folds acknowledged records of partition p (in offset order)
// into memory, reading back first whatever someone else wrote before or
// between them; false means a key's merged value is not the one written.
func (s *Store) applyWritten(ctx context.Context, p int32, pt *partition, recs []*kgo.Record) (bool, error) {
	pt.mu.Lock()
	expected := pt.next
	pt.mu.Unlock()
	var gap []*kgo.Record
	for _, r := range recs {
		if r.Offset > expected {
			s.log.Warn("progress partition written by someone else since this member loaded it; reading it back",
				"partition", p, "expected_offset", expected, "offset", r.Offset)
			if err := s.readRange(ctx, p, expected, r.Offset, func(g *kgo.Record) { gap = append(gap, g) }); err != nil {
				return false, fmt.Errorf("write to %s/%d: read back foreign writes: %w", s.cfg.Topic, p, err)
			}
		}
		gap = append(gap, r)
		expected = max(expected, r.Offset+1)
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for _, r := range gap {
		s.apply(pt.vals, string(r.Key), r.Value)
	}
	pt.next = max(pt.next, expected)
	ok := true
	for _, r := range recs {
		if !bytes.Equal(pt.vals[string(r.Key)], r.Value) {
			ok = false
		}
	}
	return ok, nil
}

// Keys returns how many keys the loaded partitions hold.
func (s *Store) Keys() int {
	s.mu.Lock()
	parts := make([]*partition, 0, len(s.parts))
	for _, pt := range s.parts {
		parts = append(parts, pt)
	}
	s.mu.Unlock()
	n := 0
	for _, pt := range parts {
		if !isClosed(pt.loaded) {
			continue
		}
		pt.mu.RLock()
		n += len(pt.vals)
		pt.mu.RUnlock()
	}
	return n
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
