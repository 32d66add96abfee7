package pipeline

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestOrderRank(t *testing.T) {
	// The lifecycle, in order; statuses on one line share a rank.
	lifecycle := [][]string{
		{"new", "New"},
		{"pending", "processing", "on_hold", "something custom"},
		{"partially_canceled", "Partially-Cancelled"},
		{"partially_shipped"},
		{"shipped", "Shipped"},
		{"partially_delivered"},
		{"delivered"},
		{"completed"},
		{"closed", "canceled", "cancelled", "Canceled"},
	}
	prev := -1
	for i, same := range lifecycle {
		r := OrderRank(same[0])
		if r <= prev {
			t.Errorf("rank of %q = %d, not above the previous stage's %d", same[0], r, prev)
		}
		for _, s := range same[1:] {
			if got := OrderRank(s); got != r {
				t.Errorf("stage %d: rank of %q = %d, want %d like %q", i, s, got, r, same[0])
			}
		}
		prev = r
	}
	// Every status a message can announce has a rank of its own.
	for key := range statusTexts {
		if _, ok := orderRanks[key]; !ok {
			t.Errorf("announced status %q has no rank", key)
		}
	}
}

func TestOrderStepAfter(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 15, 2, 11, 0, time.UTC)
	at := func(sec int, status string) OrderStep {
		return OrderStep{OrderID: "o", EventID: status, Status: status, Rank: OrderRank(status), UpdatedAt: t0.Add(time.Duration(sec) * time.Second)}
	}
	tests := []struct {
		name string
		a, b OrderStep
		want bool
	}{
		{"later time", at(1, "processing"), at(0, "shipped"), true},
		{"earlier time", at(0, "delivered"), at(1, "processing"), false},
		{"same time, higher rank", at(0, "shipped"), at(0, "processing"), true},
		{"same time, same rank", at(0, "closed"), at(0, "canceled"), false},
		{"same time, lower rank", at(0, "new"), at(0, "processing"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.After(tc.b); got != tc.want {
				t.Errorf("After = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKeyedMutex(t *testing.T) {
	m := NewKeyedMutex(4)
	var mu sync.Mutex
	inside := map[string]int{}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			key := []string{"a", "b", "c"}[g%3]
			for range 200 {
				unlock, err := m.Lock(t.Context(), key)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inside[key]++
				if inside[key] != 1 {
					t.Errorf("%d holders of %q", inside[key], key)
				}
				mu.Unlock()
				mu.Lock()
				inside[key]--
				mu.Unlock()
				unlock()
			}
		})
	}
	wg.Wait()

	unlock, err := m.Lock(t.Context(), "held")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := m.Lock(ctx, "held"); err == nil {
		t.Fatal("Lock of a held key with a done context succeeded")
	}
	unlock()
	if u, err := m.Lock(ctx, "held"); err == nil {
		u() // a free stripe may be taken even with a done context
	}
	if got := len(NewKeyedMutex(0).stripes); got != DefaultKeyedMutexStripes {
		t.Errorf("default stripes %d", got)
	}
}
