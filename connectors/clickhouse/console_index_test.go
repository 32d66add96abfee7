package clickhouse

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/shopstream/shopstream/pipeline"
	chschema "github.com/shopstream/shopstream/schemas/clickhouse"
)

// The tables migrations 0003 and 0005 add, each filled from webhook_events
// by a materialized view and backfilled.
var (
	indexes0003    = []string{"webhook_events_by_event", "webhook_events_by_entity", "webhook_events_by_received", "webhook_events_by_processed"}
	indexes0005    = []string{searchByReceived, searchByEntity}
	consoleIndexes = append(append([]string{}, indexes0003...), indexes0005...)
)

// duplicatedHistory writes the console fixture and the analyst fixture the
// way an at-least-once sink does: everything, then everything again, then
// an overlapping slice a third time.
func duplicatedHistory(t *testing.T, s *Store, now time.Time) {
	t.Helper()
	consoleFixture(t, s, now)
	rows := knownOutcomes()
	for i := range rows { // the two fixtures both have p1 and p2
		rows[i].EventID = "k-" + rows[i].EventID
	}
	for _, batch := range [][]pipeline.Outcome{rows, rows, rows[10:40]} {
		if err := s.InsertOutcomes(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
	}
}

// assertIndexesAgree runs every console read through the indexes
// (Store) and through the pre-0003 queries on webhook_events
// (legacyConsole), and wants identical answers.
func assertIndexesAgree(t *testing.T, s *Store, now time.Time) {
	t.Helper()
	ctx := t.Context()
	old := legacyConsole{s}
	var queries []EventQuery
	for _, st := range append([]string{""}, eventStatuses...) {
		queries = append(queries,
			EventQuery{Status: st},
			EventQuery{Status: st, Limit: 3},
			EventQuery{Status: st, Limit: 1000}, // 10,000 candidates with a status
			EventQuery{Status: st, EntityID: "10001"},
			EventQuery{Status: st, EntityID: "entity-o7"},
			EventQuery{Status: st, EventID: "k-o2"},
			EventQuery{Status: st, EventID: "k-o7", EntityID: "entity-o7"},
			EventQuery{Status: st, EventType: "product.updated", Limit: 5},
			EventQuery{Status: st, Since: now.Add(-time.Hour)},
			EventQuery{Status: st, Until: now.Add(-time.Hour)},
			EventQuery{Status: st, Since: h10, Until: h11.Add(20 * time.Minute)},
			EventQuery{Status: st, Since: h10.Add(30 * time.Minute), EventType: "order.updated", Limit: 2},
		)
	}
	for _, q := range queries {
		want, err := old.FindEvents(ctx, q)
		if err != nil {
			t.Fatalf("old %+v: %v", q, err)
		}
		got, err := s.FindEvents(ctx, q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("FindEvents(%+v)\n got %+v\nwant %+v", q, got, want)
		}
	}
	var ids []string
	for _, o := range knownOutcomes() {
		ids = append(ids, "k-"+o.EventID)
	}
	ids = append(ids, "e1", "e2", "p1", "nope")
	for _, id := range ids {
		want, err := old.Timeline(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Timeline(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Timeline(%s)\n got %+v\nwant %+v", id, got, want)
		}
	}
	wantDel, err := old.Delivered(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	gotDel, err := s.Delivered(ctx, ids)
	if err != nil || !reflect.DeepEqual(gotDel, wantDel) {
		t.Errorf("Delivered = %v, %v; want %v", gotDel, err, wantDel)
	}
	for _, at := range []time.Time{now.Add(time.Second), h11, h11.Add(45 * time.Minute), day.Add(25 * time.Hour)} {
		want, err := old.LoadOverview(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.LoadOverview(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("LoadOverview(%s)\n got %+v\nwant %+v", at, got, want)
		}
	}
}

var eventStatuses = []string{"received", "completed", "retrying", "dead", "duplicate", "superseded", "skipped"}

// TestConsoleIndexesAgree: on rows written through the views, duplicates
// included, the indexed queries answer exactly as the old ones on
// webhook_events, before and after merges.
func TestConsoleIndexesAgree(t *testing.T) {
	s := migratedStore(t)
	now := time.Now().UTC().Truncate(time.Second)
	duplicatedHistory(t, s, now)
	assertIndexesAgree(t, s, now)
	optimize(t, s)
	assertIndexesAgree(t, s, now)
	// The merges left one row per outcome in every table.
	want := count(t, s, "SELECT count() FROM webhook_events")
	for _, table := range consoleIndexes {
		if got := count(t, s, "SELECT count() FROM "+table); got != want {
			t.Errorf("%s has %d rows after merges, webhook_events %d", table, got, want)
		}
	}
}

// TestConsoleIndexesBackfill: migrations 0003 and 0005 applied to a
// database that already holds rows (written by a sink before the upgrade)
// copy them into their indexes, and running a migration's statements a
// second time (a migration that failed half-way runs again) changes no
// answer.
func TestConsoleIndexesBackfill(t *testing.T) {
	for _, tc := range []struct {
		version int
		tables  []string
	}{{3, indexes0003}, {5, indexes0005}} {
		t.Run(fmt.Sprintf("%04d", tc.version), func(t *testing.T) {
			s := newTestStore(t)
			ctx := t.Context()
			if err := s.Conn().Exec(ctx, chschema.MigrationsTableDDL()); err != nil {
				t.Fatal(err)
			}
			// Every migration but this one, so that today's writer can
			// write the rows a sink wrote before the upgrade.
			var held chschema.Migration
			for _, m := range chschema.Migrations() {
				if m.Version == tc.version {
					held = m
					continue
				}
				if err := s.apply(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			now := time.Now().UTC().Truncate(time.Second)
			duplicatedHistory(t, s, now)
			before := count(t, s, "SELECT count() FROM webhook_events")

			applied, err := s.Migrate(ctx)
			if err != nil || len(applied) != 1 || applied[0] != tc.version {
				t.Fatalf("Migrate = %v, %v; want [%d]", applied, err, tc.version)
			}
			for _, table := range tc.tables {
				if got := count(t, s, "SELECT count() FROM "+table); got != before {
					t.Errorf("%s has %d rows after the backfill, webhook_events %d", table, got, before)
				}
			}
			assertIndexesAgree(t, s, now)

			for i, stmt := range held.Statements() {
				if err := s.Conn().Exec(ctx, stmt); err != nil {
					t.Fatalf("%04d statement %d again: %v", tc.version, i+1, err)
				}
			}
			for _, table := range tc.tables {
				if got := count(t, s, "SELECT count() FROM "+table); got != 2*before {
					t.Errorf("%s has %d rows after a second backfill, want %d (a copy of each)", table, got, 2*before)
				}
			}
			// EventSummary.Rows counts rows, so it sees the extra copies
			// until they merge; everything else agrees at once.
			optimize(t, s)
			assertIndexesAgree(t, s, now)
			if applied, err := s.Migrate(ctx); err != nil || len(applied) != 0 {
				t.Fatalf("Migrate again = %v, %v; want nothing", applied, err)
			}
		})
	}
}

// optimize merges every part of webhook_events and its indexes, collapsing
// the duplicates.
func optimize(t *testing.T, s *Store) {
	t.Helper()
	for _, table := range append([]string{"webhook_events"}, consoleIndexes...) {
		if err := s.Conn().Exec(t.Context(), "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConsoleSearchResendSpan pins the one place a time-range search may
// differ from the pre-0003 query: an event id that came as two Kafka
// records (EverShop sent the webhook again) more than resendSpan apart is
// summarised from the records in the searched span only; by entity, over
// both.
func TestConsoleSearchResendSpan(t *testing.T) {
	s := migratedStore(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	first, again := now.Add(-3*time.Hour), now.Add(-30*time.Minute)
	o := func(st pipeline.Status, attempt int, recv time.Time, off int64) pipeline.Outcome {
		return pipeline.Outcome{EventID: "r1", EventType: pipeline.OrderUpdated, EntityID: "20001", Status: st, Attempt: attempt,
			ReceivedAt: recv, ProcessedAt: recv.Add(time.Duration(attempt) * time.Second), Topic: "evershop.order", Offset: off}
	}
	rows := []pipeline.Outcome{
		o(pipeline.StatusReceived, 0, first, 50), o(pipeline.StatusCompleted, 1, first, 50),
		o(pipeline.StatusReceived, 0, again, 51), o(pipeline.StatusDuplicate, 1, again, 51),
	}
	if err := s.InsertOutcomes(ctx, rows); err != nil {
		t.Fatal(err)
	}
	both := []EventSummary{{EventID: "r1", EventType: pipeline.OrderUpdated, EntityID: "20001", ReceivedAt: first, Attempts: 1, Status: "duplicate", Rows: 4}}
	for _, q := range []EventQuery{{EntityID: "20001"}, {EntityID: "20001", Since: now.Add(-time.Hour)}} {
		got, err := s.FindEvents(ctx, q)
		if err != nil || !reflect.DeepEqual(got, both) {
			t.Errorf("FindEvents(%+v) = %+v, %v; want %+v", q, got, err, both)
		}
	}
	// The old query reads both records; the time-range search, 2.5 h
	// apart, the second only.
	q := EventQuery{Since: now.Add(-time.Hour)}
	if old, err := (legacyConsole{s}).FindEvents(ctx, q); err != nil || !reflect.DeepEqual(old, both) {
		t.Errorf("legacy FindEvents(%+v) = %+v, %v; want %+v", q, old, err, both)
	}
	second := []EventSummary{{EventID: "r1", EventType: pipeline.OrderUpdated, EntityID: "20001", ReceivedAt: again, Attempts: 1, Status: "duplicate", Rows: 2}}
	if got, err := s.FindEvents(ctx, q); err != nil || !reflect.DeepEqual(got, second) {
		t.Errorf("FindEvents(%+v) = %+v, %v; want %+v", q, got, err, second)
	}
}
