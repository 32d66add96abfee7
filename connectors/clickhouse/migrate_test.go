package clickhouse

import (
	"slices"
	"strings"
	"testing"
	"time"

	chschema "github.com/shopstream/shopstream/schemas/clickhouse"
)

func TestMigrateIsIdempotent(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()

	var want []int
	for _, m := range chschema.Migrations() {
		want = append(want, m.Version)
	}
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if !slices.Equal(applied, want) {
		t.Fatalf("first migrate applied %v, want %v", applied, want)
	}
	applied, err = s.Migrate(ctx)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second migrate applied %v, %v; want nothing", applied, err)
	}

	recorded, err := s.recordedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := count(t, s, "SELECT count() FROM schema_migrations"); got != uint64(len(want)) {
		t.Errorf("schema_migrations has %d rows, want %d", got, len(want))
	}
	for _, m := range chschema.Migrations() {
		if r := recorded[m.Version]; r.name != m.Name || r.checksum != m.Checksum() {
			t.Errorf("migration %d recorded as %+v", m.Version, r)
		}
	}

	// The table the writer and queries rely on exists with every column.
	rows, err := s.Conn().Query(ctx, "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'webhook_events'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"event_id", "event_type", "entity_id", "status", "attempt", "error", "received_at", "received_at_ms",
		"processed_at", "processed_at_ms", "processing_ms", "topic", "partition", "offset", "ingested_at"} {
		if !slices.Contains(cols, c) {
			t.Errorf("webhook_events lacks column %s (has %v)", c, cols)
		}
	}
}

func TestMigrateRefusesDrift(t *testing.T) {
	for _, tc := range []struct {
		name     string
		version  uint32
		checksum string
		wantErr  string
	}{
		{"changed checksum", 1, "deadbeef", "checksum deadbeef"},
		{"unknown version", 9999, "abc", "does not know"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t)
			ctx := t.Context()
			if err := s.Conn().Exec(ctx, chschema.MigrationsTableDDL()); err != nil {
				t.Fatal(err)
			}
			// Not Exec("INSERT ... VALUES"): over the native protocol an 18.16
			// server then waits for data blocks and the connection hangs.
			batch, err := s.Conn().PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at)")
			if err != nil {
				t.Fatal(err)
			}
			if err := batch.Append(tc.version, "recorded", tc.checksum, time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := batch.Send(); err != nil {
				t.Fatal(err)
			}
			applied, err := s.Migrate(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Migrate = %v, %v; want an error containing %q", applied, err, tc.wantErr)
			}
			if n := count(t, s, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'webhook_events'"); n != 0 {
				t.Error("Migrate ran DDL despite refusing")
			}
		})
	}
}

func TestAddColumnsParsesOnlyColumnAdditions(t *testing.T) {
	for _, c := range []struct {
		stmt  string
		table string
		cols  []string
	}{
		{"ALTER TABLE webhook_events\n    ADD COLUMN message String DEFAULT ''", "webhook_events", []string{"message"}},
		{"ALTER TABLE t\n ADD COLUMN a String DEFAULT '', -- one, two\n ADD COLUMN `b` DateTime DEFAULT toDateTime(0, 'UTC'),\n ADD COLUMN IF NOT EXISTS c String -- c, d",
			"t", []string{"a", "b", "c"}},
		{"ALTER TABLE t ADD COLUMN a String, DROP COLUMN b", "", nil},
		{"ALTER TABLE t DELETE WHERE 1", "", nil},
		{"CREATE TABLE IF NOT EXISTS t (a String) ENGINE = Memory", "", nil},
	} {
		table, clauses, cols, ok := addColumns(c.stmt)
		if table != c.table || !slices.Equal(cols, c.cols) || ok != (c.cols != nil) || len(clauses) != len(c.cols) {
			t.Errorf("%q: %q %q %v (%q)", c.stmt, table, cols, ok, clauses)
		}
	}
}

// A migrator that crashed after a migration's statements ran but before
// its schema_migrations row was written: here every migration's statements
// ran by hand and none is recorded. Migrate runs them all again, the
// ALTERs included (18.16 has no ADD COLUMN IF NOT EXISTS), and succeeds.
func TestMigrateRerunsAMigrationWhoseColumnsExist(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	for _, m := range chschema.Migrations() {
		for _, stmt := range m.Statements() {
			if err := s.Conn().Exec(ctx, stmt); err != nil {
				t.Fatalf("migration %d by hand: %v", m.Version, err)
			}
		}
	}
	applied, err := s.Migrate(ctx)
	if err != nil || len(applied) != len(chschema.Migrations()) {
		t.Fatalf("migrate after a crash: %v, %v", applied, err)
	}
	if n := count(t, s, "SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = 'webhook_events' AND name IN ('message', 'alert_trigger')"); n != 2 {
		t.Errorf("%d of the added columns exist", n)
	}
}
