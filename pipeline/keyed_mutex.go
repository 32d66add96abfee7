package pipeline

import (
	"context"
	"hash/maphash"
)

// DefaultKeyedMutexStripes is the processor's number of order lock stripes:
// far more than the partition workers that could contend, so two orders
// rarely share one.
const DefaultKeyedMutexStripes = 1024

// KeyedMutex serialises work per key (an order id) with a fixed set of
// striped locks: memory stays constant however many keys pass, at the cost
// of two keys sometimes sharing a stripe and waiting for each other. Lock
// honours ctx, so a worker whose partition is revoked while it waits for a
// stripe held through an outage gives up instead of blocking the drain.
type KeyedMutex struct {
	seed    maphash.Seed
	stripes []chan struct{}
}

// NewKeyedMutex returns a KeyedMutex of n stripes
// (DefaultKeyedMutexStripes if n <= 0).
func NewKeyedMutex(n int) *KeyedMutex {
	if n <= 0 {
		n = DefaultKeyedMutexStripes
	}
	m := &KeyedMutex{seed: maphash.MakeSeed(), stripes: make([]chan struct{}, n)}
	for i := range m.stripes {
		m.stripes[i] = make(chan struct{}, 1)
	}
	return m
}

// Lock takes key's stripe, waiting until it is free or ctx ends. On success
// the caller must call unlock exactly once.
func (m *KeyedMutex) Lock(ctx context.Context, key string) (unlock func(), err error) {
	s := m.stripes[maphash.String(m.seed, key)%uint64(len(m.stripes))]
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
