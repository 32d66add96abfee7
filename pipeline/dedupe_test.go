package pipeline

import (
	"fmt"
	"sync"
	"testing"
	"time"
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
	if got := NewSeenSet(0).lru.capacity; got != DefaultSeenCapacity {
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

func TestOrderProgress(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	type sent struct {
		order, status string
		at            time.Duration
	}
	tests := []struct {
		name   string
		sent   []sent // recorded first, in this order
		order  string
		status string
		at     time.Duration
		want   OrderVerdict
	}{
		{name: "unknown order", order: "o1", status: "processing", want: OrderSend},
		{name: "newer update", sent: []sent{{"o1", "processing", 0}}, order: "o1", status: "shipped", at: time.Minute, want: OrderSend},
		{name: "older update is superseded", sent: []sent{{"o1", "shipped", time.Minute}}, order: "o1", status: "processing", at: 0, want: OrderSuperseded},
		{name: "older by a nanosecond", sent: []sent{{"o1", "shipped", time.Minute}}, order: "o1", status: "shipped", at: time.Minute - 1, want: OrderSuperseded},
		{name: "same time same status is a duplicate", sent: []sent{{"o1", "shipped", time.Minute}}, order: "o1", status: "shipped", at: time.Minute, want: OrderDuplicate},
		{name: "same time other status is sent", sent: []sent{{"o1", "processing", time.Minute}}, order: "o1", status: "shipped", at: time.Minute, want: OrderSend},
		{name: "same status later is sent", sent: []sent{{"o1", "shipped", 0}}, order: "o1", status: "shipped", at: time.Minute, want: OrderSend},
		{name: "other order unaffected", sent: []sent{{"o1", "delivered", time.Hour}}, order: "o2", status: "processing", at: 0, want: OrderSend},
		{
			name: "older record does not move the order back",
			sent: []sent{{"o1", "delivered", time.Hour}, {"o1", "processing", 0}},
			// processing at 30m is still older than delivered at 1h.
			order: "o1", status: "processing", at: 30 * time.Minute, want: OrderSuperseded,
		},
		{
			name:  "equal-time record replaces the status",
			sent:  []sent{{"o1", "processing", time.Minute}, {"o1", "shipped", time.Minute}},
			order: "o1", status: "shipped", at: time.Minute, want: OrderDuplicate,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewOrderProgress(10)
			for _, s := range tc.sent {
				p.Record(s.order, s.status, t0.Add(s.at))
			}
			at := t0.Add(tc.at)
			if got := p.Classify(tc.order, tc.status, at); got != tc.want {
				t.Errorf("Classify = %s, want %s", got, tc.want)
			}
			if got, want := p.Check(tc.order, at), tc.want == OrderSuperseded; got != want {
				t.Errorf("Check = %v, want %v", got, want)
			}
		})
	}
}

func TestOrderProgressBound(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	p := NewOrderProgress(2)
	p.Record("o1", "shipped", t0.Add(time.Hour))
	p.Record("o2", "shipped", t0.Add(time.Hour))
	if !p.Check("o1", t0) { // touches o1, so o2 is the oldest
		t.Fatal("o1 not superseded")
	}
	p.Record("o3", "shipped", t0.Add(time.Hour)) // evicts o2
	if p.Check("o2", t0) {
		t.Error("o2 still remembered beyond capacity")
	}
	if !p.Check("o1", t0) || !p.Check("o3", t0) {
		t.Error("recent orders forgotten")
	}
	if n := p.lru.len(); n != 2 {
		t.Errorf("len = %d, want 2", n)
	}
}

func TestOrderProgressConcurrent(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	p := NewOrderProgress(0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				p.Record("o1", "status", t0.Add(time.Duration(g*500+i)*time.Second))
				p.Check("o1", t0)
			}
		})
	}
	wg.Wait()
	// Whatever the interleaving, the latest event time wins.
	if p.Check("o1", t0.Add(3999*time.Second)) {
		t.Error("latest update superseded")
	}
	if !p.Check("o1", t0.Add(3998*time.Second)) {
		t.Error("record moved backwards under concurrency")
	}
}

func TestOrderVerdictString(t *testing.T) {
	for v, want := range map[OrderVerdict]string{OrderSend: "send", OrderDuplicate: "duplicate", OrderSuperseded: "superseded", 9: "unknown"} {
		if got := v.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(v), got, want)
		}
	}
}
