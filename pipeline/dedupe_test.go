package pipeline

import (
	"fmt"
	"sync"
	"testing"
)

func TestSeenSet(t *testing.T) {
	s := NewSeenSet(3)
	if s.Seen("a") {
		t.Fatal("empty set has seen a")
	}
	s.Add("a")
	s.Add("b")
	s.Add("c")
	s.Add("a") // re-adding refreshes, does not grow
	if s.Len() != 3 {
		t.Fatalf("len = %d, want 3", s.Len())
	}
	// Order by recency, oldest first: b, c, a. Touch b so c is the oldest.
	if !s.Seen("b") {
		t.Fatal("b not seen")
	}
	s.Add("d") // evicts c
	for id, want := range map[string]bool{"a": true, "b": true, "c": false, "d": true} {
		if got := s.Seen(id); got != want {
			t.Errorf("Seen(%q) = %v, want %v", id, got, want)
		}
	}
	if s.Len() != 3 {
		t.Errorf("len = %d after eviction, want 3", s.Len())
	}
}

func TestSeenSetBound(t *testing.T) {
	const capacity = 1000
	s := NewSeenSet(capacity)
	for i := range 10 * capacity {
		s.Add(fmt.Sprint(i))
		if s.Len() > capacity {
			t.Fatalf("len %d exceeds capacity %d after %d adds", s.Len(), capacity, i+1)
		}
	}
	// Exactly the last capacity ids survive.
	for _, i := range []int{0, 9*capacity - 1} {
		if s.Seen(fmt.Sprint(i)) {
			t.Errorf("id %d survived eviction", i)
		}
	}
	for _, i := range []int{9 * capacity, 10*capacity - 1} {
		if !s.Seen(fmt.Sprint(i)) {
			t.Errorf("id %d evicted too early", i)
		}
	}
	if got := NewSeenSet(0).lru.Capacity(); got != DefaultSeenCapacity {
		t.Errorf("default capacity = %d, want %d", got, DefaultSeenCapacity)
	}
}

func TestSeenSetConcurrent(t *testing.T) {
	s := NewSeenSet(500)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				id := fmt.Sprintf("%d-%d", g, i%700)
				if !s.Seen(id) {
					s.Add(id)
				}
			}
		})
	}
	wg.Wait()
	if s.Len() != 500 {
		t.Fatalf("len = %d, want 500", s.Len())
	}
}
