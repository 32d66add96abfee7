package replay

import (
	"container/heap"
	"sort"
	"time"
)

// Newest keeps the newest Limit items it is given (all of them when
// Limit <= 0) by At, the earlier given first among equal times: a min-heap
// whose root is the one to drop next. List keeps dead letters with it, the
// console's dead-letter index its entries, so both list in the same order.
type Newest[T any] struct {
	Limit int
	At    func(T) time.Time
	// Keep, when set, is applied to an item as it is kept (never to one
	// dropped at once): List copies a kept letter out of the fetch buffers.
	Keep func(T) T
	h    newestHeap[T]
}

type kept[T any] struct {
	v   T
	at  time.Time
	seq int // order given, for ties
}

// before reports whether a is listed before b (newer, or as new and given
// earlier).
func (a kept[T]) before(b kept[T]) bool {
	if !a.at.Equal(b.at) {
		return a.at.After(b.at)
	}
	return a.seq < b.seq
}

type newestHeap[T any] struct {
	seq int
	h   []kept[T]
}

func (n *newestHeap[T]) Len() int           { return len(n.h) }
func (n *newestHeap[T]) Less(i, j int) bool { return n.h[j].before(n.h[i]) } // root: listed last
func (n *newestHeap[T]) Swap(i, j int)      { n.h[i], n.h[j] = n.h[j], n.h[i] }
func (n *newestHeap[T]) Push(x any)         { n.h = append(n.h, x.(kept[T])) }
func (n *newestHeap[T]) Pop() any {
	x := n.h[len(n.h)-1]
	n.h = n.h[:len(n.h)-1]
	return x
}

// Add offers v.
func (n *Newest[T]) Add(v T) {
	k := kept[T]{v: v, at: n.At(v), seq: n.h.seq}
	n.h.seq++
	full := n.Limit > 0 && len(n.h.h) >= n.Limit
	if full && !k.before(n.h.h[0]) {
		return
	}
	if n.Keep != nil {
		k.v = n.Keep(k.v)
	}
	if !full {
		heap.Push(&n.h, k)
		return
	}
	n.h.h[0] = k
	heap.Fix(&n.h, 0)
}

// Len is how many items are kept.
func (n *Newest[T]) Len() int { return len(n.h.h) }

// Sorted returns what was kept, newest first.
func (n *Newest[T]) Sorted() []T {
	sort.Slice(n.h.h, func(i, j int) bool { return n.h.h[i].before(n.h.h[j]) })
	out := make([]T, len(n.h.h))
	for i, k := range n.h.h {
		out[i] = k.v
	}
	return out
}
