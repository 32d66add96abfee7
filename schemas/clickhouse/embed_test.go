package chschema

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMigrationsSortedAndWellFormed(t *testing.T) {
	ms := Migrations()
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range ms {
		if i > 0 && ms[i-1].Version >= m.Version {
			t.Errorf("migration %d follows %d: not ascending", m.Version, ms[i-1].Version)
		}
		if len(m.Statements()) == 0 {
			t.Errorf("migration %d_%s has no statements", m.Version, m.Name)
		}
		if len(m.Checksum()) != 64 {
			t.Errorf("checksum %q is not hex SHA-256", m.Checksum())
		}
		// Features newer than ClickHouse 18.16 must not creep in (the
		// comments may name them, the code may not).
		code := withoutLineComments(m.SQL)
		for _, banned := range []string{"LowCardinality", "DateTime64", "TTL", "CODEC("} {
			if strings.Contains(code, banned) {
				t.Errorf("migration %d uses %s, which ClickHouse 18.16 lacks", m.Version, banned)
			}
		}
	}
	if ms[0].Version != 1 || ms[0].Name != "webhook_events" {
		t.Errorf("first migration = %d_%s, want 1_webhook_events", ms[0].Version, ms[0].Name)
	}
}

func withoutLineComments(sql string) string {
	lines := strings.Split(sql, "\n")
	for i, l := range lines {
		lines[i], _, _ = strings.Cut(l, "--")
	}
	return strings.Join(lines, "\n")
}

func TestParseMigrationName(t *testing.T) {
	for _, bad := range []string{"webhook.sql", "0000_zero.sql", "0002_.sql", "x_y.sql", "0003_name.txt"} {
		if _, _, err := parseMigrationName(bad); err == nil {
			t.Errorf("parseMigrationName(%q) accepted a malformed name", bad)
		}
	}
	v, name, err := parseMigrationName("0012_add_index.sql")
	if err != nil || v != 12 || name != "add_index" {
		t.Errorf("parseMigrationName = %d, %q, %v", v, name, err)
	}
}

func TestQueries(t *testing.T) {
	want := []string{"alerts_per_day", "dlq_count", "out_of_stock_longest", "processing_time", "queue_time", "retry_rate", "success_rate", "top_errors"}
	if got := QueryNames(); !slices.Equal(got, want) {
		t.Fatalf("QueryNames() = %v, want %v", got, want)
	}
	for _, name := range want {
		q, err := Query(name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(q, "FROM webhook_events FINAL") {
			t.Errorf("%s does not read webhook_events with FINAL", name)
		}
		if n := len(SplitStatements(q)); n != 1 {
			t.Errorf("%s has %d statements, want 1", name, n)
		}
		if _, err := BindRange(q, Range{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, bad := range []string{"", "nope", "../migrations/0001_webhook_events", "success_rate.sql"} {
		if _, err := Query(bad); err == nil {
			t.Errorf("Query(%q) succeeded", bad)
		}
	}
}

func TestBindRange(t *testing.T) {
	q := "SELECT 1 FROM (\n    WITH\n        now() - INTERVAL 7 DAY AS range_from,\n        now() AS range_to  -- upper\n    SELECT 1)"
	from := time.Date(2025, 3, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	to := time.Date(2025, 3, 1, 12, 30, 15, 900, time.UTC)
	got, err := BindRange(q, Range{From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	want := "SELECT 1 FROM (\n    WITH\n        toDateTime('2025-03-01 09:00:00', 'UTC') AS range_from,\n        toDateTime('2025-03-01 12:30:15', 'UTC') AS range_to  -- upper\n    SELECT 1)"
	if got != want {
		t.Errorf("BindRange =\n%s\nwant\n%s", got, want)
	}
	if got, _ := BindRange(q, Range{To: to}); !strings.Contains(got, "now() - INTERVAL 7 DAY AS range_from") {
		t.Errorf("zero From did not keep the default: %s", got)
	}
	if _, err := BindRange(q, Range{From: to, To: from}); err == nil {
		t.Error("inverted range accepted")
	}
	if _, err := BindRange("SELECT 1", Range{}); err == nil {
		t.Error("query without range lines accepted")
	}
}

func TestSplitStatements(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"single no semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"two", "SELECT 1;\nSELECT 2;\n", []string{"SELECT 1", "SELECT 2"}},
		{"semicolon in string", "SELECT 'a;b'; SELECT 2", []string{"SELECT 'a;b'", "SELECT 2"}},
		{"escaped quote", `SELECT 'it\'s;'; SELECT 2`, []string{`SELECT 'it\'s;'`, "SELECT 2"}},
		{"doubled quote", "SELECT 'it''s;'; SELECT 2", []string{"SELECT 'it''s;'", "SELECT 2"}},
		{"backquoted", "SELECT `a;b` FROM t; SELECT 2", []string{"SELECT `a;b` FROM t", "SELECT 2"}},
		{"line comment", "-- a; b\nSELECT 1; -- tail;\n", []string{"-- a; b\nSELECT 1"}},
		{"block comment", "/* x; */ SELECT 1; /* only; */", []string{"/* x; */ SELECT 1"}},
		{"empty", " ;\n; ", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SplitStatements(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("SplitStatements(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMigrationsTableDDL(t *testing.T) {
	if s := SplitStatements(MigrationsTableDDL()); len(s) != 1 || !strings.Contains(s[0], "schema_migrations") {
		t.Errorf("MigrationsTableDDL() = %q", s)
	}
}
