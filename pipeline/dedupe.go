package pipeline

import "github.com/shopstream/shopstream/internal/lru"

// DefaultSeenCapacity bounds the in-memory SeenSet. An entry costs roughly
// 100–150 bytes, so the default stays around 10–15 MiB per processor.
// Per-order progress is not kept here: it decides correctness, so it lives
// in an OrderLedger (order_ledger.go) that survives restarts.
const DefaultSeenCapacity = 100_000

// SeenSet is a bounded set of event ids already handled: the cheap first line
// of dedupe against Kafka re-delivery after a rebalance or a sender's retry.
// It is not the last line: it is per process, forgets the least recently used
// ids beyond its capacity and starts empty after a restart, so effects must
// still be idempotent downstream (the inbox's Idempotency-Key is the event id).
//
// Add an id only once its effect is durable; adding it before the action
// would turn a failed attempt into a silent skip on retry. Both operations are
// O(1) and safe for concurrent use.
type SeenSet struct {
	lru *lru.Cache[string, struct{}]
}

// NewSeenSet returns an empty set holding at most capacity ids
// (DefaultSeenCapacity if capacity <= 0).
func NewSeenSet(capacity int) *SeenSet {
	if capacity <= 0 {
		capacity = DefaultSeenCapacity
	}
	return &SeenSet{lru: lru.New[string, struct{}](capacity)}
}

// Seen reports whether id was added and not yet evicted. A hit refreshes the
// id: a record that is re-delivered tends to be re-delivered again.
func (s *SeenSet) Seen(id string) bool {
	_, ok := s.lru.Get(id)
	return ok
}

// Add records id as handled, evicting the least recently used id if full.
func (s *SeenSet) Add(id string) {
	s.lru.Put(id, struct{}{})
}

// Len returns how many ids the set holds; it never exceeds the capacity.
func (s *SeenSet) Len() int {
	return s.lru.Len()
}
