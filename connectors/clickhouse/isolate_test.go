package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
)

// fakeTable is a store that refuses, for good, any insert containing one
// of its bad rows, refuses batches larger than maxBatch for their shape,
// and can be made unavailable after a number of inserts. It records what
// it accepted.
type fakeTable struct {
	bad         map[int]bool
	maxBatch    int // 0: no limit
	failAfter   int // unavailable from this insert on (0: never)
	inserts     int
	accepted    map[int]int // row -> times written
	unavailable error
}

func (f *fakeTable) insert(_ context.Context, rows []int) error {
	f.inserts++
	if f.failAfter > 0 && f.inserts >= f.failAfter {
		return pipeline.Retryable(f.unavailable, 0)
	}
	if f.maxBatch > 0 && len(rows) > f.maxBatch {
		return pipeline.Permanentf("too many partitions for single INSERT block")
	}
	for _, r := range rows {
		if f.bad[r] {
			return pipeline.Permanentf("row %d: type mismatch", r)
		}
	}
	for _, r := range rows {
		f.accepted[r]++
	}
	return nil
}

func rowsUpTo(n int) []int {
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	return rows
}

func TestIsolate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		n           int
		bad         []int
		maxBatch    int
		maxInserts  int
		wantInserts int // exact when set
	}{
		{name: "clean batch is one insert", n: 1000, wantInserts: 1},
		{name: "one bad row among 1000", n: 1000, bad: []int{617}, maxInserts: 2*10 + 1},
		{name: "first and last rows bad", n: 64, bad: []int{0, 63}, maxInserts: 2 * 2 * 6 * 2},
		{name: "adjacent bad rows", n: 100, bad: []int{40, 41, 42}},
		{name: "every row bad", n: 16, bad: rowsUpTo(16), wantInserts: 31},
		{name: "single bad row alone", n: 1, bad: []int{0}, wantInserts: 1},
		{name: "refused for its shape only", n: 1000, maxBatch: 300},
		{name: "shape and a bad row", n: 1000, maxBatch: 300, bad: []int{999}},
		{name: "empty batch", n: 0, wantInserts: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeTable{bad: map[int]bool{}, maxBatch: tc.maxBatch, accepted: map[int]int{}}
			for _, b := range tc.bad {
				f.bad[b] = true
			}
			rows := rowsUpTo(tc.n)
			rejected, err := Isolate(t.Context(), rows, f.insert)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Sorted(maps.Keys(rejected)); !slices.Equal(got, slices.Sorted(slices.Values(tc.bad))) {
				t.Errorf("rejected rows %v, want %v", got, tc.bad)
			}
			for i, err := range rejected {
				if !pipeline.IsPermanent(err) {
					t.Errorf("row %d: error %v is not the permanent refusal", i, err)
				}
				if want := fmt.Sprintf("row %d:", i); !strings.Contains(err.Error(), want) {
					t.Errorf("row %d carries another row's error: %v", i, err)
				}
			}
			for _, r := range rows {
				want := 1
				if f.bad[r] {
					want = 0
				}
				if f.accepted[r] != want {
					t.Errorf("row %d written %d times, want %d", r, f.accepted[r], want)
				}
			}
			if tc.wantInserts > 0 || tc.n == 0 {
				if f.inserts != tc.wantInserts {
					t.Errorf("%d inserts, want %d", f.inserts, tc.wantInserts)
				}
			}
			if tc.maxInserts > 0 && f.inserts > tc.maxInserts {
				t.Errorf("%d inserts, want at most %d", f.inserts, tc.maxInserts)
			}
		})
	}
}

// TestIsolateStopsWhenClickHouseGoesAway: a transient error in the middle
// of a bisection is returned, with no row reported rejected, so the caller
// retries the whole batch instead of quarantining rows that were fine.
func TestIsolateStopsWhenClickHouseGoesAway(t *testing.T) {
	down := errors.New("connection refused")
	f := &fakeTable{bad: map[int]bool{5: true}, failAfter: 3, unavailable: down, accepted: map[int]int{}}
	rejected, err := Isolate(t.Context(), rowsUpTo(100), f.insert)
	if !errors.Is(err, down) || pipeline.IsPermanent(err) {
		t.Fatalf("err = %v, want the retryable outage", err)
	}
	if rejected != nil {
		t.Errorf("rejected = %v, want nil while ClickHouse is away", rejected)
	}
	// The retry, once ClickHouse is back, rejects only the bad row.
	f.failAfter = 0
	rejected, err = Isolate(t.Context(), rowsUpTo(100), f.insert)
	if err != nil || len(rejected) != 1 || rejected[5] == nil {
		t.Fatalf("after recovery: rejected %v, err %v; want row 5 only", rejected, err)
	}
}

func TestIsolateStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	_, err := Isolate(ctx, rowsUpTo(8), func(context.Context, []int) error {
		calls++
		cancel()
		return pipeline.Permanentf("bad")
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("err %v after %d calls, want context.Canceled after 1", err, calls)
	}
}

// poisonID is the event id poisonedStore's table refuses.
const poisonID = "poison"

// poisonedStore is a migrated store whose webhook_events refuses, on the
// server, any row with event_id poisonID: a MATERIALIZED column computed at
// insert time throws (code 395). It stands for any row-level refusal
// ClickHouse can make (a value that does not parse or fit) and exercises
// the real exception path, which typed native inserts otherwise never hit.
func poisonedStore(tb testing.TB, opts ...Option) *Store {
	tb.Helper()
	s := migratedStore(tb, opts...)
	if err := s.Conn().Exec(tb.Context(), "ALTER TABLE webhook_events ADD COLUMN poison UInt8 MATERIALIZED throwIf(event_id = '"+poisonID+"')"); err != nil {
		tb.Fatalf("add poison column: %v", err)
	}
	return s
}

// TestWriteOutcomesIsolatesPoisonedRows: in one batch of 500 outcomes, one
// row the server refuses and one the writer refuses before sending; the
// 498 others land (exactly once, read with FINAL) and the two come back
// with their reasons.
func TestWriteOutcomesIsolatesPoisonedRows(t *testing.T) {
	s := poisonedStore(t)
	received := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	var batch []pipeline.Outcome
	for i := range 500 {
		batch = append(batch, event(fmt.Sprintf("evt-%03d", i), "order.updated", received.Add(time.Duration(i)*time.Second), int64(i), true)...)
	}
	const serverBad, clientBad = 137, 402
	batch[serverBad].EventID = poisonID
	batch[clientBad].ProcessedAt = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

	rejected, err := s.WriteOutcomes(t.Context(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(rejected)); !slices.Equal(got, []int{serverBad, clientBad}) {
		t.Fatalf("rejected rows %v, want [%d %d]: %v", got, serverBad, clientBad, rejected)
	}
	for i, want := range map[int]string{serverBad: "function_throw_if_value_is_non_zero", clientBad: "value_out_of_range"} {
		var row *RowError
		if !pipeline.IsPermanent(rejected[i]) || !errors.As(rejected[i], &row) || row.QuarantineReason() != want {
			t.Errorf("row %d: %v (reason %q), want a permanent RowError %s", i, rejected[i], Reason(rejected[i]), want)
		}
	}
	if n := count(t, s, "SELECT count() FROM webhook_events FINAL"); n != 498 {
		t.Errorf("%d rows in webhook_events, want 498", n)
	}
	if n := count(t, s, "SELECT count() FROM webhook_events FINAL WHERE event_id IN ('"+poisonID+"', 'evt-402')"); n != 0 {
		t.Errorf("%d refused rows landed", n)
	}

	// Writing the same batch again (a re-delivery after a crash) adds
	// nothing once duplicates collapse.
	if _, err := s.WriteOutcomes(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count() FROM webhook_events FINAL"); n != 498 {
		t.Errorf("after a re-delivery: %d rows, want 498", n)
	}
}
