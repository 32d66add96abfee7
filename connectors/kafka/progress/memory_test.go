package progress

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// TestMemoryPerOrder measures what one order's claim costs a member that
// holds its partition: the map entry, the key and the value, as load and
// Put store them. Event ids are 64-character SHA-256 hex (the longest the
// ingress makes); order ids 6 digits.
func TestMemoryPerOrder(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes heap accounting")
	}
	const n = 20_000
	s := &Store{cfg: Config{Merge: mergeClaims}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	vals := map[string][]byte{}
	at := time.Date(2026, 11, 21, 15, 2, 11, 0, time.UTC)
	for i := range n {
		id := fmt.Sprint(100000 + i)
		v, err := encodeClaim(pipeline.OrderStep{OrderID: id, Status: "shipped", Rank: 4, UpdatedAt: at,
			EventID: fmt.Sprintf("%064x", i)}, at)
		if err != nil {
			t.Fatal(err)
		}
		s.apply(vals, id, v)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
	t.Logf("%d orders: %.0f bytes each (value %d bytes)", n, per, len(vals["100000"]))
	runtime.KeepAlive(vals)
	if per > 600 {
		t.Errorf("%.0f bytes per order, documented as about 270", per)
	}
}
