// Package lru is the one bounded least-recently-used cache of shopstream
// (the processor's seen-event set, the inbox's user and conversation ids).
// It imports only the standard library and does no I/O, so the pure core
// (pipeline) may use it.
package lru

import "sync"

// Cache maps keys to values and holds at most its capacity of them,
// forgetting the least recently used first. Get, Put and Remove are O(1);
// a Cache is safe for concurrent use.
type Cache[K comparable, V any] struct {
	mu       sync.Mutex
	capacity int
	items    map[K]*entry[K, V]
	root     entry[K, V] // sentinel: root.next is the newest, root.prev the oldest
}

type entry[K comparable, V any] struct {
	key        K
	val        V
	prev, next *entry[K, V]
}

// New returns an empty cache holding at most capacity entries (at least
// one).
func New[K comparable, V any](capacity int) *Cache[K, V] {
	c := &Cache[K, V]{capacity: max(capacity, 1), items: make(map[K]*entry[K, V])}
	c.root.prev, c.root.next = &c.root, &c.root
	return c
}

// Capacity is the most entries the cache holds.
func (c *Cache[K, V]) Capacity() int { return c.capacity }

// Get returns k's value and makes k the most recently used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.moveToFront(e)
	return e.val, true
}

// Put sets k's value, makes k the most recently used, and forgets the least
// recently used entry if the cache was full.
func (c *Cache[K, V]) Put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		e.val = v
		c.moveToFront(e)
		return
	}
	if len(c.items) >= c.capacity {
		oldest := c.root.prev
		c.unlink(oldest)
		delete(c.items, oldest.key)
	}
	e := &entry[K, V]{key: k, val: v}
	c.items[k] = e
	c.pushFront(e)
}

// Remove forgets k.
func (c *Cache[K, V]) Remove(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.unlink(e)
		delete(c.items, k)
	}
}

// Len is how many entries the cache holds; never more than its capacity.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

func (c *Cache[K, V]) moveToFront(e *entry[K, V]) {
	if c.root.next == e {
		return
	}
	c.unlink(e)
	c.pushFront(e)
}

func (c *Cache[K, V]) unlink(e *entry[K, V]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *Cache[K, V]) pushFront(e *entry[K, V]) {
	e.prev, e.next = &c.root, c.root.next
	c.root.next.prev = e
	c.root.next = e
}
