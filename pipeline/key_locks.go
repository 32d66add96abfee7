package pipeline

import (
	"context"
	"slices"
	"sync"
)

// KeyLocks serialises work per key (an order id) exactly: two keys never
// wait for each other. Unlike KeyedMutex's fixed stripes, a run that holds
// the locks of hundreds of orders (Processor.HandleBatch holds a stretch's
// orders until its last message left) does not block other partitions'
// workers on orders that merely share a stripe. Memory is one entry per
// key locked or waited for now, removed when the last holder or waiter
// leaves.
type KeyLocks struct {
	mu   sync.Mutex
	keys map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{} // holds a token while the key is locked
	refs int           // holder and waiters
}

// NewKeyLocks returns an empty set of locks.
func NewKeyLocks() *KeyLocks { return &KeyLocks{keys: map[string]*keyLock{}} }

func (m *KeyLocks) ref(key string) *keyLock {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.keys[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		m.keys[key] = l
	}
	l.refs++
	return l
}

func (m *KeyLocks) unref(key string, l *keyLock) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(m.keys, key)
	}
}

// Lock takes key's lock, waiting until it is free or ctx ends. On success
// the caller must call unlock exactly once.
func (m *KeyLocks) Lock(ctx context.Context, key string) (unlock func(), err error) {
	l := m.ref(key)
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; m.unref(key, l) }, nil
	case <-ctx.Done():
		m.unref(key, l)
		return nil, ctx.Err()
	}
}

// LockAll takes the locks of every key (each once), in key order so that
// two LockAll callers cannot deadlock; on success the caller must call
// unlock exactly once. On ctx done it holds nothing.
func (m *KeyLocks) LockAll(ctx context.Context, keys []string) (unlock func(), err error) {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	unlocks := make([]func(), 0, len(keys))
	release := func() {
		for _, u := range unlocks {
			u()
		}
	}
	for _, k := range keys {
		u, err := m.Lock(ctx, k)
		if err != nil {
			release()
			return nil, err
		}
		unlocks = append(unlocks, u)
	}
	return release, nil
}

// held is how many keys are locked or waited for (tests).
func (m *KeyLocks) held() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}
