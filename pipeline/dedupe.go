package pipeline

import (
	"sync"
	"time"
)

// Default bounds of the in-memory dedupe state. An entry costs roughly
// 100–150 bytes, so each default stays around 10–15 MiB per processor.
const (
	DefaultSeenCapacity  = 100_000
	DefaultOrderCapacity = 100_000
)

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

// OrderVerdict says what to do with an order status update.
type OrderVerdict int

const (
	// OrderSend: nothing newer was sent for this order; send it.
	OrderSend OrderVerdict = iota
	// OrderDuplicate: this very status, at this very time, was already sent.
	OrderDuplicate
	// OrderSuperseded: a status with a later event time was already sent;
	// sending this one would tell the customer the order went backwards.
	OrderSuperseded
)

func (v OrderVerdict) String() string {
	switch v {
	case OrderSend:
		return "send"
	case OrderDuplicate:
		return "duplicate"
	case OrderSuperseded:
		return "superseded"
	}
	return "unknown"
}

// OrderProgress remembers, per order id, the event time and status of the
// last status message sent, so that an update overtaken by a newer one is not
// sent after it. Order events share a partition (the key is the order id) but
// a retry tier re-delivers an event after later ones for the same order have
// gone through: without this, "shipped" could be followed by a late
// "processing".
//
// Event times are the envelope's timestamps, from the sender's clock, which
// is the only clock that orders one shop's updates. EverShop stamps whole
// seconds, so two different statuses may share a time: both are sent, in
// arrival order. Like SeenSet it is bounded (least recently used orders are
// forgotten, and with them their protection) and per process; it is safe for
// concurrent use.
type OrderProgress struct {
	mu  sync.Mutex
	lru *dedupeLRU[string, orderSent]
}

type orderSent struct {
	status string
	at     time.Time
}

// NewOrderProgress returns an empty tracker of at most capacity orders
// (DefaultOrderCapacity if capacity <= 0).
func NewOrderProgress(capacity int) *OrderProgress {
	if capacity <= 0 {
		capacity = DefaultOrderCapacity
	}
	return &OrderProgress{lru: newDedupeLRU[string, orderSent](capacity)}
}

// Check reports whether an update of orderID at eventTime is superseded: a
// message for an event strictly later was already sent.
func (p *OrderProgress) Check(orderID string, eventTime time.Time) (superseded bool) {
	return p.Classify(orderID, "", eventTime) == OrderSuperseded
}

// Classify is Check that also recognises a duplicate: the same status at the
// same event time as the last message sent. status is compared as given, so
// callers pass the normalised status key (e.g. "canceled" for "cancelled").
func (p *OrderProgress) Classify(orderID, status string, eventTime time.Time) OrderVerdict {
	p.mu.Lock()
	defer p.mu.Unlock()
	last, ok := p.lru.get(orderID)
	switch {
	case !ok:
		return OrderSend
	case eventTime.Before(last.at):
		return OrderSuperseded
	case eventTime.Equal(last.at) && status != "" && status == last.status:
		return OrderDuplicate
	}
	return OrderSend
}

// Record notes that the message for status at eventTime was sent for orderID.
// Call it once the message is durable. A record older than the one held is
// ignored, so concurrent or out-of-order calls never move an order backwards;
// at an equal time the later call wins.
func (p *OrderProgress) Record(orderID, status string, eventTime time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if last, ok := p.lru.get(orderID); ok && eventTime.Before(last.at) {
		return
	}
	p.lru.put(orderID, orderSent{status: status, at: eventTime})
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
