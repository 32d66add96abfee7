package pipeline

import (
	"context"
	"testing"
	"time"
)

// TestKeyLocks: one key at a time, other keys never wait, LockAll holds
// every key of its set until unlock, a cancelled wait holds nothing, and
// nothing is kept once every lock is released.
func TestKeyLocks(t *testing.T) {
	m := NewKeyLocks()
	all, err := m.LockAll(t.Context(), []string{"b", "a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	// Keys outside the set do not wait (a striped lock could make them).
	for i := range 200 {
		u, err := m.Lock(t.Context(), string(rune('d'+i)))
		if err != nil {
			t.Fatal(err)
		}
		u()
	}
	// A key of the set waits until the set is unlocked.
	got := make(chan func(), 1)
	go func() {
		u, err := m.Lock(context.Background(), "b")
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	if _, err := m.Lock(ctx, "a"); err == nil {
		t.Fatal("locked a while LockAll holds it")
	}
	cancel()
	// A LockAll cut off by ctx while waiting for "c" holds nothing after.
	ctx, cancel = context.WithTimeout(t.Context(), 20*time.Millisecond)
	if _, err := m.LockAll(ctx, []string{"z", "c"}); err == nil {
		t.Fatal("LockAll took c while it is held")
	}
	cancel()
	if u, err := m.Lock(t.Context(), "z"); err != nil {
		t.Fatalf("z after a cancelled LockAll: %v", err)
	} else {
		u()
	}
	all()
	(<-got)()
	if n := m.held(); n != 0 {
		t.Fatalf("%d keys kept after every lock was released", n)
	}
}
