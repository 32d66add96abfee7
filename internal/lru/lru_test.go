package lru

import (
	"fmt"
	"sync"
	"testing"
)

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := New[string, int](2)
	c.Put("a", 1)
	c.Put("b", 2)
	c.Get("a") // a is now more recent than b
	c.Put("c", 3)
	if _, ok := c.Get("b"); ok {
		t.Error("b should have been evicted")
	}
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Error("a should have survived")
	}
	c.Put("a", 10) // an update refreshes without evicting
	if v, _ := c.Get("a"); v != 10 || c.Len() != 2 {
		t.Errorf("a = %d, len %d after an update", v, c.Len())
	}
	c.Remove("a")
	c.Remove("missing")
	if c.Len() != 1 {
		t.Errorf("len = %d, want 1", c.Len())
	}
	if _, ok := c.Get("c"); !ok {
		t.Error("c should have survived the removal of a")
	}
}

func TestCacheKeepsExactlyTheNewest(t *testing.T) {
	const capacity = 50
	c := New[int, struct{}](capacity)
	for i := range 10 * capacity {
		c.Put(i, struct{}{})
		if c.Len() > capacity {
			t.Fatalf("len %d exceeds capacity after %d puts", c.Len(), i+1)
		}
	}
	for i := range 10 * capacity {
		_, ok := c.Get(i)
		if want := i >= 9*capacity; ok != want {
			t.Fatalf("key %d held = %v, want %v", i, ok, want)
		}
	}
}

func TestCacheCapacityAtLeastOne(t *testing.T) {
	c := New[string, int](0)
	c.Put("a", 1)
	c.Put("b", 2)
	if c.Capacity() != 1 || c.Len() != 1 {
		t.Fatalf("capacity %d, len %d", c.Capacity(), c.Len())
	}
	if v, ok := c.Get("b"); !ok || v != 2 {
		t.Fatal("the newest entry is kept")
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := New[string, int](100)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				k := fmt.Sprint(g, i%150)
				if _, ok := c.Get(k); !ok {
					c.Put(k, i)
				}
				if i%7 == 0 {
					c.Remove(k)
				}
			}
		})
	}
	wg.Wait()
	if c.Len() > 100 {
		t.Fatalf("len %d > capacity", c.Len())
	}
}
