package pipeline

import "sync"

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
	mu  sync.Mutex
	lru *dedupeLRU[string, struct{}]
}

// NewSeenSet returns an empty set holding at most capacity ids
// (DefaultSeenCapacity if capacity <= 0).
func NewSeenSet(capacity int) *SeenSet {
	if capacity <= 0 {
		capacity = DefaultSeenCapacity
	}
	return &SeenSet{lru: newDedupeLRU[string, struct{}](capacity)}
}

// Seen reports whether id was added and not yet evicted. A hit refreshes the
// id: a record that is re-delivered tends to be re-delivered again.
func (s *SeenSet) Seen(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.lru.get(id)
	return ok
}

// Add records id as handled, evicting the least recently used id if full.
func (s *SeenSet) Add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lru.put(id, struct{}{})
}

// Len returns how many ids the set holds; it never exceeds the capacity.
func (s *SeenSet) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.len()
}

// dedupeLRU is a map plus an intrusive doubly linked list, most recent at the
// front: O(1) get, put and eviction. It is not safe for concurrent use; its
// owners lock around it.
type dedupeLRU[K comparable, V any] struct {
	capacity int
	items    map[K]*dedupeEntry[K, V]
	root     dedupeEntry[K, V] // sentinel: root.next is the newest, root.prev the oldest
}

type dedupeEntry[K comparable, V any] struct {
	key        K
	val        V
	prev, next *dedupeEntry[K, V]
}

func newDedupeLRU[K comparable, V any](capacity int) *dedupeLRU[K, V] {
	l := &dedupeLRU[K, V]{capacity: capacity, items: make(map[K]*dedupeEntry[K, V])}
	l.root.prev, l.root.next = &l.root, &l.root
	return l
}

func (l *dedupeLRU[K, V]) get(k K) (V, bool) {
	e, ok := l.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	l.moveToFront(e)
	return e.val, true
}

func (l *dedupeLRU[K, V]) put(k K, v V) {
	if e, ok := l.items[k]; ok {
		e.val = v
		l.moveToFront(e)
		return
	}
	if len(l.items) >= l.capacity {
		oldest := l.root.prev
		l.unlink(oldest)
		delete(l.items, oldest.key)
	}
	e := &dedupeEntry[K, V]{key: k, val: v}
	l.items[k] = e
	l.pushFront(e)
}

func (l *dedupeLRU[K, V]) len() int { return len(l.items) }

func (l *dedupeLRU[K, V]) moveToFront(e *dedupeEntry[K, V]) {
	if l.root.next == e {
		return
	}
	l.unlink(e)
	l.pushFront(e)
}

func (l *dedupeLRU[K, V]) unlink(e *dedupeEntry[K, V]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (l *dedupeLRU[K, V]) pushFront(e *dedupeEntry[K, V]) {
	e.prev, e.next = &l.root, l.root.next
	l.root.next.prev = e
	l.root.next = e
}
